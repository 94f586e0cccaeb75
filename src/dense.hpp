// Reading a tensor as one contiguous Array, for the kernels that have no strided path (most
// of them have one: see docs/guide.md, "Where an op goes").
#pragma once

#include <functional>
#include <type_traits>
#include <xtensor/xnoalias.hpp>

#include "ember/tensor.hpp"

namespace ember::detail {

// Every helper here takes the element type T ops compute in: float (the default) for a float32
// tensor, double for a float64 one (the storage's dtype is checked: DtypeError otherwise).

// An array over `storage` with `shape` (no copy: it borrows the storage's elements), or with
// no elements for a null storage (src/dense.cpp).
template <class T>
ArrayOf<T> borrowed(const Storage* storage, typename ArrayOf<T>::shape_type shape);

// An array over the storage of a tensor that is its whole storage (no copy): it borrows the
// elements, so it must not outlive the tensor's storage (do not move it into anything that
// does). Throws for a view.
template <class T = float>
ArrayOf<T> borrow_values(const Tensor& t);

// A tensor's values as a contiguous row-major Array, alive as long as this object: the
// storage itself (borrowed) for a tensor that is its whole storage (every op result, every
// parameter), or the view's elements packed into an array this object owns. Keep it in a
// named local while the Array is read (`Dense X(x); ... *X`); `*Dense(x)` is safe only within
// one expression, and the tensor must outlive it.
template <class T>
class DenseOf {
 public:
  explicit DenseOf(const Tensor& t);
  DenseOf(const DenseOf&) = delete;
  DenseOf& operator=(const DenseOf&) = delete;
  const ArrayOf<T>& operator*() const { return values_; }
  const ArrayOf<T>* operator->() const { return &values_; }

 private:
  ArrayOf<T> values_;
};
using Dense = DenseOf<float>;

// The array of a tensor that is its whole storage (an op's fresh result, a new gradient),
// for writing into it: it borrows the storage (see borrow_values). Throws for a view.
template <class T = float>
ArrayOf<T> own_values(const Tensor& t);

// A tensor's shape and strides as an xtensor adaptor takes them (Tensor::data(), a bool mask's
// bytes): a size-1 dim gets stride 0, xtensor's broadcasting convention.
ArrayViewShape adaptor_shape(const TensorImpl& impl);
xt::svector<std::ptrdiff_t, 4> adaptor_strides(const TensorImpl& impl);

// A view's elements packed into a fresh contiguous array (what contiguous() copies).
template <class T = float>
ArrayOf<T> pack(const Tensor& t);

// t's elements in row-major order written to out (numel elements), read where they sit.
template <class T>
void read_into(const Tensor& t, T* out);

// A 1-D tensor's elements where they sit (a bias): v[i] is element i, through its stride.
// Null for an undefined tensor.
struct Strided1D {
  const float* first = nullptr;
  int64_t step = 0;
  float operator[](int64_t i) const { return first[i * step]; }
  explicit operator bool() const { return first != nullptr; }
};
Strided1D strided_1d(const Tensor& t);

// The same, calling done(first, count) on each band of the result as soon as it is written
// (a strip of a transposed view's rows, still in cache), so that an elementwise op runs there
// in place without a second pass over memory.
using BandDone = std::function<void(float* first, int64_t count)>;
Array pack_then(const Tensor& t, const BandDone& done);

// Calls f with t's values as an xtensor expression, for ops written as xtensor expressions:
// the storage's own Array for a tensor that is its whole storage (xtensor's contiguous SIMD
// path), else the adaptor over the view's elements (read through the strides, not copied).
// Both calls must return the same type.
template <class F>
auto with_values(const Tensor& t, F&& f) {
  if (!t.is_view()) return f(static_cast<const Array&>(borrow_values(t)));
  return f(t.data());
}
// The same for T = double: the storage's own array, or a view packed (float64 has no
// Tensor::data() adaptor; float64 ops have no speed target).
template <class T, class F>
auto with_values_of(const Tensor& t, F&& f) {
  if constexpr (std::is_same_v<T, float>) {
    return with_values(t, std::forward<F>(f));
  } else {
    if (!t.is_view()) return f(static_cast<const ArrayOf<T>&>(borrow_values<T>(t)));
    return f(static_cast<const ArrayOf<T>&>(pack<T>(t)));
  }
}

// f(x) of an elementwise op (f maps an xtensor expression to one), as a fresh contiguous
// Array. x is read where it sits: a tensor that is its whole storage directly; a view by
// gathering its elements straight into the result's buffer (the one allocation) and applying
// f there in place. The input is never copied.
template <class T = float, class F>
ArrayOf<T> elementwise(const Tensor& x, F&& f) {
  if (!x.is_view()) return ArrayOf<T>(f(static_cast<const ArrayOf<T>&>(borrow_values<T>(x))));
  ArrayOf<T> out = pack<T>(x);
  xt::noalias(out) = f(static_cast<const ArrayOf<T>&>(out));
  return out;
}

// The same for a loop over contiguous floats, loop(in, out, n) (out may alias in): the storage
// read directly, or a view gathered into the result's buffer and the loop run there in place,
// band by band while each band is in cache.
template <class Loop>
Array elementwise_loop(const Tensor& x, Loop loop) {
  if (x.is_view()) return pack_then(x, [&](float* band, int64_t n) { loop(band, band, n); });
  Array out = Array::from_shape(
      Array::shape_type(x.impl()->layout.shape.begin(), x.impl()->layout.shape.end()));
  loop(x.data_ptr(), out.data(), static_cast<int64_t>(out.size()));
  return out;
}

template <class F>
Array elementwise_float(const Tensor& a, const Tensor& b, const Shape& out_shape, F&& f);

// f(a, b) of a binary elementwise op with broadcasting: in float32 an operand that is a view
// and has the result's shape is gathered into the result's buffer, f runs there in place, and
// the other is read through its strides (no copy); float64 packs a view (no speed target).
template <class T = float, class F>
ArrayOf<T> elementwise(const Tensor& a, const Tensor& b, const Shape& out_shape, F&& f) {
  if constexpr (!std::is_same_v<T, float>) {
    return with_values_of<T>(a, [&](const auto& x) {
      return with_values_of<T>(b, [&](const auto& y) { return ArrayOf<T>(f(x, y)); });
    });
  } else {
    return elementwise_float(a, b, out_shape, std::forward<F>(f));
  }
}

template <class F>
Array elementwise_float(const Tensor& a, const Tensor& b, const Shape& out_shape, F&& f) {
  if (!a.is_view() && !b.is_view())
    return Array(f(static_cast<const Array&>(borrow_values(a)),
                   static_cast<const Array&>(borrow_values(b))));
  if (a.is_view() && a.shape() == out_shape) {
    Array out = pack(a);
    with_values(b, [&](const auto& y) {
      xt::noalias(out) = f(static_cast<const Array&>(out), y);
      return 0;
    });
    return out;
  }
  if (b.is_view() && b.shape() == out_shape) {
    Array out = pack(b);
    with_values(a, [&](const auto& x) {
      xt::noalias(out) = f(x, static_cast<const Array&>(out));
      return 0;
    });
    return out;
  }
  return with_values(a, [&](const auto& x) {
    return with_values(b, [&](const auto& y) { return Array(f(x, y)); });
  });
}

}  // namespace ember::detail
