// Tensor factories (the random ones are in random.cpp, beside the generator).
#include <cmath>

#include "ember/tensor.hpp"

namespace ember {

namespace {
Array filled(const Shape& shape, float value, const char* op) {
  return Array(detail::to_xshape(shape, op), value);
}
}  // namespace

Tensor tensor(std::vector<float> values, const Shape& shape, bool requires_grad) {
  const int64_t numel = detail::checked_numel(shape, "tensor", sizeof(float));
  EMBER_CHECK_SHAPE(static_cast<size_t>(numel) == values.size(), "tensor: ", values.size(),
                    " values do not fill shape ", detail::shape_str(shape), " (", numel,
                    " elements)");
  Array a = Array::from_shape(detail::to_xshape(shape));
  std::copy(values.begin(), values.end(), a.data());
  return Tensor(std::move(a), requires_grad);
}

Tensor tensor(std::vector<float> values, bool requires_grad) {
  Shape shape{static_cast<int64_t>(values.size())};
  return tensor(std::move(values), shape, requires_grad);
}

Tensor scalar_tensor(double value, bool requires_grad) {
  return Tensor(Array(static_cast<float>(value)), requires_grad);
}
Tensor scalar_tensor(double value, Dtype dtype, bool requires_grad) {
  return full({}, value, dtype, requires_grad);
}

Tensor zeros(const Shape& shape, bool requires_grad) {
  return Tensor(filled(shape, 0.f, "zeros"), requires_grad);
}
Tensor ones(const Shape& shape, bool requires_grad) {
  return Tensor(filled(shape, 1.f, "ones"), requires_grad);
}
Tensor full(const Shape& shape, double value, bool requires_grad) {
  return Tensor(filled(shape, static_cast<float>(value), "full"), requires_grad);
}
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }

Tensor arange(double end) { return arange(0.0, end, 1.0); }
Tensor arange(double start, double end, double step) { return arange(start, end, step, kFloat32); }

// As PyTorch: the length is ceil((end - start) / step) in double, and element i is
// start + i * step in double, then stored in dtype (a running sum would drift, and a float one
// stall for good at 2^24).
Tensor arange(double start, double end, double step, Dtype dtype) {
  EMBER_CHECK_DTYPE(dtype != kBool, "arange: a bool range is not supported (as in PyTorch)");
  EMBER_CHECK_VALUE(step != 0.0, "arange: step must be non-zero");
  EMBER_CHECK_VALUE(std::isfinite(start) && std::isfinite(end), "arange: start ", start,
                    " and end ", end, " must be finite");
  const double length = std::ceil((end - start) / step);
  EMBER_CHECK_VALUE(length >= 0, "arange: start ", start, " end ", end, " and step ", step,
                    " give a negative length");
  EMBER_CHECK_SHAPE(length < 9.2e18, "arange: start ", start, " end ", end, " and step ", step,
                    " give ", length, " elements, more than int64 can count");
  const int64_t n = static_cast<int64_t>(length);
  ArrayOf<double> a = ArrayOf<double>::from_shape(detail::to_xshape({n}, "arange"));
  for (int64_t i = 0; i < n; ++i) a.data()[i] = start + double(i) * step;
  return dtype == kFloat64 ? Tensor(std::move(a)) : Tensor(std::move(a)).to(dtype);
}

Tensor eye(int64_t n) {
  EMBER_CHECK_VALUE(n >= 0, "eye: negative size ", n);
  Array a(detail::to_xshape({n, n}, "eye"), 0.f);
  for (int64_t i = 0; i < n; ++i) a(i, i) = 1.f;
  return Tensor(std::move(a));
}

}  // namespace ember
