// Every user-caused failure of the core throws an ember::Error subclass naming op and values.
#include <doctest/doctest.h>

#include <ember/ember.hpp>

using namespace ember;
namespace F = ember::nn::functional;

TEST_CASE("broadcast mismatch") {
  CHECK_THROWS_WITH_AS(zeros({2, 3}) + zeros({4}), "add: shapes [2,3] and [4] cannot be broadcast",
                       ShapeError);
  CHECK_THROWS_WITH_AS(zeros({2, 3}) * zeros({3, 2}),
                       "mul: shapes [2,3] and [3,2] cannot be broadcast", ShapeError);
}

TEST_CASE("matmul mismatch") {
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}), zeros({2, 3})),
                       "matmul: shapes [2,3] and [2,3] cannot be multiplied (3 != 2: the last dim "
                       "of the first must equal the second-to-last dim of the second)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 2, 3}), zeros({3, 3, 4})),
                       "matmul: batch dims [2] and [3] do not broadcast (shapes [2,2,3] and "
                       "[3,3,4])",
                       ShapeError);
}

TEST_CASE("bad reshape") {
  CHECK_THROWS_WITH_AS(zeros({2, 3}).reshape({4, 2}),
                       "reshape: shape [4,2] is invalid for input of size 6 (shape [2,3])",
                       ShapeError);
  CHECK_THROWS_AS(zeros({2, 3}).reshape({-1, -1}), ShapeError);
}

TEST_CASE("dim out of range") {
  CHECK_THROWS_WITH_AS(sum(zeros({2, 3}), {2}),
                       "sum: dim 2 out of range for a tensor of 2 dims (expected in [-2, 1])",
                       IndexError);
  CHECK_THROWS_AS(softmax(zeros({2, 3}), -3), IndexError);
  CHECK_THROWS_AS(zeros({2}).transpose(0, 1), IndexError);
}

TEST_CASE("item on a non-scalar") {
  CHECK_THROWS_WITH_AS(
      zeros({2, 3}).item(),
      "item: a Tensor with 6 elements cannot be converted to a scalar (shape [2,3])", ShapeError);
}

TEST_CASE("backward on a non-scalar without a gradient") {
  Tensor a = ones({2}, true);
  CHECK_THROWS_WITH_AS((a * 2.f).backward(),
                       "backward: grad can be implicitly created only for scalar outputs, got "
                       "shape [2]; pass a gradient to backward(grad)",
                       ShapeError);
  CHECK_THROWS_AS(zeros({1}).backward(), Error);
}

TEST_CASE("cross_entropy target out of range") {
  CHECK_THROWS_WITH_AS(F::cross_entropy(zeros({2, 4}), IndexTensor{1, 7}),
                       "cross_entropy: target 7 out of range for 4 classes", IndexError);
  CHECK_THROWS_WITH_AS(F::nll_loss(zeros({2, 4}), IndexTensor{-1, 0}),
                       "nll_loss: target -1 out of range for 4 classes", IndexError);
  CHECK_THROWS_AS(F::cross_entropy(zeros({2, 4}), IndexTensor{1, 2, 3}), ShapeError);
}

TEST_CASE("indexing errors") {
  CHECK_THROWS_WITH_AS(index_select(zeros({3, 2}), 0, IndexTensor{3}),
                       "index_select: index 3 out of range for dim 0 of size 3", IndexError);
  CHECK_THROWS_WITH_AS(gather(zeros({2, 2}), 1, IndexTensor({0, 5}, {2, 1})),
                       "gather: index 5 out of range for dim 1 of size 2", IndexError);
  CHECK_THROWS_AS(cat({zeros({2, 3}), zeros({3, 2})}, 0), ShapeError);
  CHECK_THROWS_WITH_AS(tensor({1, 2, 3}, {2, 2}),
                       "tensor: 3 values do not fill shape [2,2] (4 elements)", ShapeError);
}
