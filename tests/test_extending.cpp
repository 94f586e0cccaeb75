// The user-written op and layer of docs/extending.md: the document's code is the example's
// header, and both pass gradcheck.
#include <fstream>
#include <sstream>

#include "../examples/custom_layer.hpp"
#include "gradcheck.hpp"

using namespace ember;

namespace {
std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("docs/extending.md shows exactly examples/custom_layer.hpp") {
  std::string doc = read(std::string(EMBER_SOURCE_DIR) + "/docs/extending.md");
  std::string code = read(std::string(EMBER_SOURCE_DIR) + "/examples/custom_layer.hpp");
  REQUIRE(!code.empty());
  size_t start = doc.find("```cpp\n");
  REQUIRE(start != std::string::npos);
  start += 7;
  size_t end = doc.find("```", start);
  CHECK(doc.substr(start, end - start) == code);
}

TEST_CASE("the custom op and the custom layer pass gradcheck") {
  manual_seed(9);
  using Inputs = std::vector<Tensor>;
  CHECK_GRADCHECK([](const Inputs& x) { return swish(x[0]); }, {randn({3, 4}, true)});
  Highway layer(4);
  layer.to(kFloat64);  // gradcheck runs in float64: the layer's parameters too (model.double())
  CHECK_GRADCHECK([&](const Inputs& x) { return layer(x[0]); }, {randn({2, 4}, true)});
  // The layer's own parameters: perturb a copy of the transform weight through the op.
  CHECK_GRADCHECK(
      [&](const Inputs& x) {
        Tensor t = sigmoid(layer.gate(x[0]));
        return t * swish(linear(x[0], x[1], layer.transform.bias)) + (1.f - t) * x[0];
      },
      {randn({2, 4}, true), layer.transform.weight.detach().clone().requires_grad_(true)});
  CHECK(layer.named_parameters().size() == 4);
  CHECK(layer.named_parameters()[0].first == "transform.weight");
}
