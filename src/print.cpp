// Printing as PyTorch does: tensor([[ 0.1234, -1.0000]], grad_fn=<MulBackward0>).
#include <cmath>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>

#include "ember/autograd.hpp"
#include "ember/index_tensor.hpp"

namespace ember {

namespace {

// Like PyTorch, tensors above 1000 elements show the first and last 3 entries of each dim.
constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

// Writes nested brackets for a row-major buffer; `cell(i)` formats flat element i.
void write_nested(std::ostream& out, const Shape& shape,
                  const std::function<std::string(int64_t)>& cell, bool summarize, size_t indent) {
  std::function<void(size_t, int64_t)> rec = [&](size_t d, int64_t offset) {
    if (shape.empty()) {
      out << cell(0);
      return;
    }
    int64_t stride = 1;
    for (size_t k = d + 1; k < shape.size(); ++k) stride *= shape[k];
    out << "[";
    int64_t n = shape[d];
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
        out << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + d + 1, ' '));
        i = n - kEdgeItems;
      }
      if (d + 1 == shape.size()) {
        out << cell(offset + i);
        if (i + 1 < n) out << ", ";
      } else {
        rec(d + 1, offset + i * stride);
        if (i + 1 < n)
          out << "," << std::string(shape.size() - d - 1, '\n') << std::string(indent + d + 1, ' ');
      }
    }
    out << "]";
  };
  rec(0, 0);
}

std::string format_float(float v, bool integral) {
  char buf[48];
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (integral)
    std::snprintf(buf, sizeof buf, "%.0f.", static_cast<double>(v));
  else
    std::snprintf(buf, sizeof buf, "%.4f", static_cast<double>(v));
  return buf;
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& t) {
  if (!t.defined()) return out << "[ Tensor (undefined) ]";
  const std::vector<float> a = t.to_vector();  // row-major, of any dtype
  const bool is_bool = t.dtype() == kBool;
  bool integral = true;
  for (float v : a)
    integral = integral && std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e8f;
  auto format = [&](float v) {
    return is_bool ? std::string(v != 0.f ? "True" : "False") : format_float(v, integral);
  };
  size_t width = 0;
  for (float v : a) width = std::max(width, format(v).size());
  auto cell = [&](int64_t i) {
    std::string s = format(a[static_cast<size_t>(i)]);
    return std::string(width - s.size(), ' ') + s;
  };
  out << "tensor(";
  write_nested(out, t.shape(), cell, t.numel() > kSummarizeAbove, 7);
  if (t.dtype() == kFloat64 || t.dtype() == kBFloat16)  // PyTorch names all but float32 and bool
    out << ", dtype=torch." << dtype_name(t.dtype());
  if (t.grad_fn())
    out << ", grad_fn=<" << backward_name(t.grad_fn()->name) << ">";
  else if (t.requires_grad())
    out << ", requires_grad=True";
  return out << ")";
}

std::ostream& operator<<(std::ostream& out, const IndexTensor& t) {
  const int64_t* v = t.data();
  out << "tensor(";
  write_nested(
      out, t.shape(), [&](int64_t i) { return std::to_string(v[i]); }, t.numel() > kSummarizeAbove,
      7);
  return out << ")";
}

}  // namespace ember
