// Every user-caused failure of the core throws an ember::Error subclass naming op and values.
#include <doctest/doctest.h>

#include <ember/ember.hpp>

using namespace ember;
namespace F = ember::nn::functional;

TEST_CASE("broadcast mismatch") {
  CHECK_THROWS_WITH_AS(zeros({2, 3}) + zeros({4}),
                       "add: shapes [2,3] and [4] do not broadcast: sizes 3 and 4 at dim -1 must "
                       "be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(zeros({2, 3}) * zeros({3, 2}),
                       "mul: shapes [2,3] and [3,2] do not broadcast: sizes 2 and 3 at dim -2 must "
                       "be equal or one of them 1",
                       ShapeError);
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
      "item: a Tensor with 6 elements cannot be converted to a scalar (shape [2,3]): only a "
      "one-element tensor can",
      ShapeError);
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

// cross_entropy keeps its input, not a [N, C] log_softmax: a strided view is read as its copy
// would be, and a change of the logits in place before backward is an error (PyTorch, whose
// log_softmax keeps its output, would not notice it).
TEST_CASE("cross_entropy reads its logits where they sit; changing them in place throws") {
  manual_seed(2);
  const IndexTensor targets{1, 0, 4, 2};
  Tensor base = randn({5, 4}).requires_grad_(true);
  Tensor strided = F::cross_entropy(base.t(), targets);
  strided.backward();
  Tensor copy = base.detach().t().contiguous().requires_grad_(true);
  Tensor packed = F::cross_entropy(copy, targets);
  packed.backward();
  CHECK(strided.item() == packed.item());
  CHECK(base.grad().t().contiguous().to_vector() == copy.grad().to_vector());

  Tensor x = randn({2, 3}).requires_grad_(true);
  Tensor logits = x * 2.0;
  Tensor loss = F::cross_entropy(logits, IndexTensor{0, 2});
  logits.mul_(2.0);
  CHECK_THROWS_WITH(loss.backward(), doctest::Contains("modified by an inplace operation"));
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

TEST_CASE("Core 2 ops: each refusal names the op, the values and the rule") {
  CHECK_THROWS_WITH_AS(
      max(zeros({0, 3})),
      "max: cannot reduce shape [0,3]: the reduced dims hold no elements, and the extremum of "
      "none is undefined",
      ShapeError);
  CHECK_THROWS_WITH_AS(std::get<0>(min(zeros({2, 0}), 1)),
                       "min: cannot reduce dim 1 of size 0 in shape [2,0]: the extremum of no "
                       "elements is undefined",
                       ShapeError);
  CHECK_THROWS_WITH_AS(sum(zeros({2, 3}), {1, -1}),
                       "sum: dim 1 appears more than once in dims [1,-1]", IndexError);
  CHECK_THROWS_WITH_AS(topk(zeros({2, 3}), 4, 1),
                       "topk: k 4 must be in [0, 3], the size of dim 1 of shape [2,3]", ValueError);
  CHECK_THROWS_WITH_AS(norm(zeros({2}), 0.f), "norm: p must be positive (or INFINITY), got 0",
                       ValueError);
  CHECK_THROWS_WITH_AS(triu(zeros({3})),
                       "triu: input must have at least 2 dims (a matrix), got shape [3]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(one_hot(IndexTensor{0, 5}, 3),
                       "one_hot: class 5 out of range for num_classes 3", IndexError);
  CHECK_THROWS_WITH_AS(
      index_add(zeros({3, 2}), 0, IndexTensor{0, 1}, zeros({3, 2})),
      "index_add: source shape [3,2] must be the input shape [3,2] with dim 0 of size 2 (the "
      "number of indices)",
      ShapeError);
  CHECK_THROWS_WITH_AS(index_add(zeros({3, 2}), 0, IndexTensor{3}, zeros({1, 2})),
                       "index_add: index 3 out of range for dim 0 of size 3", IndexError);
  CHECK_THROWS_WITH_AS(
      scatter_add(zeros({2, 2}), 0, IndexTensor({0, 0, 0}, {1, 3}), zeros({1, 3})),
      "scatter_add: index shape [1,3] must be <= src shape [1,3] in every dim and <= input "
      "shape [2,2] outside dim 0 (fails at dim 1)",
      ShapeError);
  CHECK_THROWS_WITH_AS(maximum(zeros({2, 3}), zeros({2})),
                       "maximum: shapes [2,3] and [2] do not broadcast: sizes 3 and 2 at dim -1 "
                       "must be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(IndexTensor({1, 2}) < IndexTensor({1, 2, 3}),
                       "operator<: shapes [2] and [3] do not broadcast: sizes 2 and 3 at dim -1 "
                       "must be equal or one of them 1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(IndexTensor({1, 2}).item(),
                       "item: an IndexTensor with 2 elements cannot be converted to a scalar "
                       "(shape [2]): only a one-element tensor can",
                       ShapeError);
  CHECK_THROWS_WITH_AS(randperm(-1), "randperm: n must be >= 0, got -1", ValueError);
  CHECK_THROWS_WITH_AS(multinomial(zeros({2, 2, 2}), 1),
                       "multinomial: probs must be 1-D or 2-D, got [2,2,2]", ShapeError);
}
