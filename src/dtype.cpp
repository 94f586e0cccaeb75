// Dtypes: names, the storage's dtype checks, conversion between dtypes (Tensor::to), and the
// factories that take a dtype. Every op computes in float32; these are how other dtypes get in
// and out of it.
#include <cmath>
#include <cstring>
#include <xtensor/xoperation.hpp>

#include "ember/autograd.hpp"
#include "ember/tensor.hpp"
#include "ops/kernels.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

const char* dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32:
      return "float32";
    case Dtype::Float64:
      return "float64";
    case Dtype::BFloat16:
      return "bfloat16";
    case Dtype::Bool:
      return "bool";
  }
  return "unknown";
}

void Storage::throw_not_float32() const {
  throw DtypeError(detail::cat(
      "expected a float32 tensor but got a ", dtype_name(dtype_), " one (", numel(),
      " elements): Ember's ops compute in float32, and a bool tensor is read only where a mask "
      "belongs; convert it first with .to(kFloat32)"));
}

void Storage::throw_wrong_dtype(Dtype wanted) const {
  throw DtypeError(detail::cat("data_ptr<", dtype_name(wanted), ">: the tensor's dtype is ",
                               dtype_name(dtype_)));
}

namespace {

// One element as double and back: every conversion goes through double, which holds float32,
// bfloat16 and bool exactly (so only the target's rounding happens).
double load(const void* base, Dtype dtype, int64_t i) {
  switch (dtype) {
    case Dtype::Float32:
      return static_cast<const float*>(base)[i];
    case Dtype::Float64:
      return static_cast<const double*>(base)[i];
    case Dtype::BFloat16:
      return static_cast<float>(static_cast<const BFloat16*>(base)[i]);
    case Dtype::Bool:
      return static_cast<const bool*>(base)[i] ? 1.0 : 0.0;
  }
  return 0.0;
}

// A contiguous run of n elements converted; the common pairs get their own loop (float32 to and
// from bfloat16 is what checkpoints and autocast do in bulk).
void convert_run(const void* src, Dtype from, int64_t src_step, void* dst, Dtype to, int64_t n) {
  if (from == kFloat32 && to == kBFloat16 && src_step == 1)
    return detail::kernels::to_bf16(static_cast<const float*>(src), static_cast<uint16_t*>(dst), n);
  if (from == kBFloat16 && to == kFloat32 && src_step == 1)
    return detail::kernels::from_bf16(static_cast<const uint16_t*>(src), static_cast<float*>(dst),
                                      n);
  for (int64_t i = 0; i < n; ++i) {
    const double v = load(src, from, i * src_step);
    switch (to) {
      case Dtype::Float32:
        static_cast<float*>(dst)[i] = static_cast<float>(v);
        break;
      case Dtype::Float64:
        static_cast<double*>(dst)[i] = v;
        break;
      case Dtype::BFloat16:  // float64 rounds to float32 first, as PyTorch's .to(bfloat16)
        static_cast<BFloat16*>(dst)[i] = BFloat16(static_cast<float>(v));
        break;
      case Dtype::Bool:  // nonzero (NaN included) is true, as bool(x) in PyTorch
        static_cast<bool*>(dst)[i] = v != 0.0;
        break;
    }
  }
}

}  // namespace

namespace detail {

std::shared_ptr<Storage> convert_storage(const Tensor& t, Dtype to) {
  const TensorImpl& impl = *t.impl();
  auto out = std::make_shared<Storage>(t.numel(), to);
  const Dtype from = impl.storage->dtype();
  const char* base = static_cast<const char*>(impl.storage->bytes());
  const int64_t in_size = static_cast<int64_t>(element_size(from));
  const int64_t out_size = static_cast<int64_t>(element_size(to));
  char* dst = static_cast<char*>(out->bytes());
  const int64_t rank = t.dim();
  if (t.numel() == 0) return out;
  if (rank == 0 || t.is_contiguous()) {
    convert_run(base + impl.layout.offset * in_size, from, 1, dst, to, t.numel());
    return out;
  }
  // Runs along the last dim, with an odometer over the others (any strides, any dtype).
  const int64_t inner = impl.layout.shape[rank - 1], step = impl.layout.strides[rank - 1];
  Dims index(static_cast<size_t>(rank), 0);
  for (int64_t done = 0; done < t.numel(); done += inner) {
    int64_t offset = impl.layout.offset;
    for (int64_t d = 0; d + 1 < rank; ++d) offset += index[d] * impl.layout.strides[d];
    convert_run(base + offset * in_size, from, step, dst + done * out_size, to, inner);
    for (int64_t d = rank - 2; d >= 0; --d) {
      if (++index[d] < impl.layout.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

// A copy of t in `to`, contiguous; differentiable between floating dtypes. The gradient flows
// back converted to the input's dtype: float64 for a float64 input, float32 otherwise, rounded
// to bfloat16 on its way into a bfloat16 input (as PyTorch's would be). (A bfloat16 tensor's
// gradient flows as float32: see Node::dtype.)
Tensor copy_as(const Tensor& t, Dtype to, const char* op) {
  Tensor out(convert_storage(t, to), t.shape());
  if (!is_floating_point(to) || !needs_grad({t})) return out;
  const Dtype from = t.dtype();
  auto back = [from](const auto& g) -> Gradients {
    if (from == kFloat64) return gradients(ArrayOf<double>(xt::cast<double>(g)));
    Array widened = xt::cast<float>(g);
    if (from == kBFloat16)
      for (float& v : widened) v = static_cast<float>(BFloat16(v));
    return gradients(std::move(widened));
  };
  if (to == kFloat64)
    return attach_grad_fn_of<double>(std::move(out), op, {t},
                                     [back](const ArrayOf<double>& g) { return back(g); });
  return attach_grad_fn(std::move(out), op, {t}, [back](const Array& g) { return back(g); });
}

}  // namespace detail

Tensor Tensor::to(Dtype dtype) const {
  if (dtype == this->dtype()) return *this;  // as PyTorch: the same tensor, not a copy
  return detail::copy_as(*this, dtype, "to");
}

bool Tensor::is_floating_point() const { return ember::is_floating_point(dtype()); }

double Tensor::item_double() const {
  EMBER_CHECK_SHAPE(numel() == 1, "item: a Tensor with ", numel(),
                    " elements cannot be converted to a scalar (shape ", detail::shape_str(shape()),
                    "): only a one-element tensor can");
  const TensorImpl& impl = *this->impl();
  return load(impl.storage->bytes(), impl.storage->dtype(), impl.layout.offset);
}

// ---- Factories with a dtype ----

Tensor full(const Shape& shape, double value, Dtype dtype, bool requires_grad) {
  const int64_t size = static_cast<int64_t>(element_size(dtype));
  const int64_t numel = detail::checked_numel(shape, "full", size);
  auto storage = std::make_shared<Storage>(numel, dtype);
  char element[8];
  convert_run(&value, kFloat64, 1, element, dtype, 1);
  char* out = static_cast<char*>(storage->bytes());
  for (int64_t i = 0; i < numel; ++i) std::memcpy(out + i * size, element, size_t(size));
  Tensor t(std::move(storage), shape);
  if (requires_grad) t.requires_grad_();
  return t;
}
Tensor zeros(const Shape& shape, Dtype dtype, bool requires_grad) {
  return full(shape, 0.0, dtype, requires_grad);
}
Tensor ones(const Shape& shape, Dtype dtype, bool requires_grad) {
  return full(shape, 1.0, dtype, requires_grad);
}

Tensor tensor(const std::vector<double>& values, const Shape& shape, Dtype dtype,
              bool requires_grad) {
  const int64_t numel = detail::checked_numel(shape, "tensor", int64_t(element_size(dtype)));
  EMBER_CHECK_SHAPE(static_cast<size_t>(numel) == values.size(), "tensor: ", values.size(),
                    " values do not fill shape ", detail::shape_str(shape), " (", numel,
                    " elements)");
  auto storage = std::make_shared<Storage>(numel, kFloat64);
  std::copy(values.begin(), values.end(), storage->data_as<double>());
  Tensor as_double(std::move(storage), shape);
  Tensor out = dtype == kFloat64 ? as_double : as_double.to(dtype);
  if (requires_grad) out.requires_grad_();
  return out;
}

}  // namespace ember

namespace ember::detail {

void throw_no_kernel(const char* op, Dtype dtype) {
  throw DtypeError(cat(op, ": got a ", dtype_name(dtype), " tensor, and ", op,
                       " computes in float32 or float64 (a bool tensor is read only where a mask ",
                       "belongs); convert it first with .to(kFloat32)"));
}

std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b) {
  const Dtype common = promote_types(a.dtype(), b.dtype());
  return {a.to(common), b.to(common)};
}

}  // namespace ember::detail
