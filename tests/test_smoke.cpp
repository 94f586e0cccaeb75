#include <doctest/doctest.h>

#include <ember/ember.hpp>
using namespace ember;
TEST_CASE("smoke") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}, true);
  Tensor b = sum(a * a + a);
  b.backward();
  CHECK(b.item() == doctest::Approx(40));
  CHECK(a.grad().to_vector() == std::vector<float>{3, 5, 7, 9});
}
