// Bool tensors as xtensor expressions: masks read where they sit, bool results written, and a
// mask kept for a backward. Ops that take a mask (masked_fill, where, masked_mean, the
// attention masks) and ops that make one (comparisons, logical ops) share these.
#pragma once

#include <algorithm>
#include <xtensor/xadapt.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xoperation.hpp>

#include "ember/tensor.hpp"

namespace ember::detail {

// A bool tensor's bytes where they sit: an adaptor of its shape and strides over its storage.
// (Read as uint8 and compared with 0, not as bool: xtensor 0.24's SSE path misreads a bool
// buffer broadcast along a size-1 dim.)
using MaskBytes = xt::xarray_adaptor<
    xt::xbuffer_adaptor<const uint8_t*, xt::no_ownership, std::allocator<uint8_t>>,
    xt::layout_type::dynamic, ArrayViewShape>;
MaskBytes mask_bytes(const Tensor& mask, const char* op, const char* what);

// A bool tensor's elements where they sit, as a bool xtensor expression (through its strides,
// never copied). Throws DtypeError naming `op` and `what` ("mask") when the tensor is not bool:
// PyTorch's masked_fill and where refuse a float mask too, since a float one has no single
// meaning.
inline auto bool_values(const Tensor& mask, const char* op, const char* what) {
  return xt::not_equal(mask_bytes(mask, op, what), uint8_t{0});
}
using BoolView = decltype(bool_values(std::declval<const Tensor&>(), "", ""));

// A fresh contiguous bool tensor of `shape` holding the bool xtensor expression `values`
// (which broadcasts to `shape`). R is the element type of the values `values` compares:
// xtensor's vectorised path loads every operand as the result's element type, so a
// comparison of doubles through 0/1 floats would compare them rounded to float.
template <class R = float, class E>
Tensor bool_tensor(const Shape& shape, const E& values) {
  const int64_t numel = checked_numel(shape, "bool_tensor", 1);
  Tensor out(std::make_shared<Storage>(numel, kBool), shape);
  // Through 0/1 values: xtensor's vectorised path, then one plain pass into the bytes
  // (its SIMD assignment into a bool buffer, like the read above, goes wrong on SSE).
  const ArrayOf<R> ones =
      xt::where(values, R(1), R(0));  // `values` has `shape` (callers broadcast)
  EMBER_CHECK_SHAPE(static_cast<int64_t>(ones.size()) == numel, "bool_tensor: ", ones.size(),
                    " values for shape ", shape_str(shape));
  bool* first = out.impl()->storage->data_as<bool>();
  for (int64_t i = 0; i < numel; ++i) first[i] = ones.data()[i] != R(0);
  return out;
}

// An attention mask as the scores' additive float form, the one the attention kernel reads: a
// float32 mask as it is; a bool one as 0 and -inf, with -inf where the mask is `hidden` (true for
// MultiheadAttention's masks, where True = not allowed; false for scaled_dot_product_attention's,
// where True = takes part, as in PyTorch). DtypeError naming `op` and `what` otherwise.
Tensor additive_mask(const Tensor& mask, bool hidden, const char* op, const char* what);

// A mask kept for an op's backward: reading it checks that no in-place op changed it since
// (as SavedValues does for float values). A mask never needs grad, so holding it is no cycle.
class SavedMask {
 public:
  SavedMask(Tensor mask, const char* op) : mask_(std::move(mask)), op_(op) {
    version_ = mask_.version();
  }
  BoolView operator*() const;

 private:
  Tensor mask_;
  const char* op_;
  uint64_t version_ = 0;
};

}  // namespace ember::detail
