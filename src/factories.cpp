// Tensor factories (the random ones are in random.cpp, beside the generator).
#include "ember/tensor.hpp"

namespace ember {

namespace {
Array filled(const Shape& shape, float value) { return Array(detail::to_xshape(shape), value); }
}  // namespace

Tensor tensor(std::vector<float> values, const Shape& shape, bool requires_grad) {
  Array a = Array::from_shape(detail::to_xshape(shape));
  EMBER_CHECK_SHAPE(a.size() == values.size(), "tensor: ", values.size(),
                    " values do not fill shape ", detail::shape_str(shape), " (", a.size(),
                    " elements)");
  std::copy(values.begin(), values.end(), a.data());
  return Tensor(std::move(a), requires_grad);
}

Tensor tensor(std::vector<float> values, bool requires_grad) {
  Shape shape{static_cast<int64_t>(values.size())};
  return tensor(std::move(values), shape, requires_grad);
}

Tensor scalar_tensor(float value, bool requires_grad) {
  return Tensor(Array(value), requires_grad);
}

Tensor zeros(const Shape& shape, bool requires_grad) {
  return Tensor(filled(shape, 0.f), requires_grad);
}
Tensor ones(const Shape& shape, bool requires_grad) {
  return Tensor(filled(shape, 1.f), requires_grad);
}
Tensor full(const Shape& shape, float value, bool requires_grad) {
  return Tensor(filled(shape, value), requires_grad);
}
Tensor zeros_like(const Tensor& t) { return zeros(t.shape()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape()); }

Tensor arange(float end) { return arange(0.f, end, 1.f); }

Tensor arange(float start, float end, float step) {
  EMBER_CHECK_VALUE(step != 0.f, "arange: step must be non-zero");
  EMBER_CHECK_VALUE((end - start) / step >= 0, "arange: start ", start, " end ", end, " and step ",
                    step, " give a negative length");
  std::vector<float> values;
  for (float v = start; step > 0 ? v < end : v > end; v += step) values.push_back(v);
  return tensor(std::move(values));
}

Tensor eye(int64_t n) {
  EMBER_CHECK_VALUE(n >= 0, "eye: negative size ", n);
  Array a = xt::zeros<float>({static_cast<size_t>(n), static_cast<size_t>(n)});
  for (int64_t i = 0; i < n; ++i) a(i, i) = 1.f;
  return Tensor(std::move(a));
}

}  // namespace ember
