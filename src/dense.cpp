// Reading a tensor as a contiguous array (src/dense.hpp): borrowing a storage, packing a view,
// and what an op saves of its inputs for backward.
#include "dense.hpp"

#include <algorithm>
#include <type_traits>

#include "ops/op_helpers.hpp"

namespace ember {

namespace detail {

// An array over `storage` with `shape` (no copy: it borrows the storage's elements; own_values
// writes through it, SavedValues only reads), or with no elements for a null storage. Never
// default-constructed: xtensor's default array is a 0-d scalar, one allocation per saved tensor.
template <class T>
ArrayOf<T> borrowed(const Storage* storage, typename ArrayOf<T>::shape_type shape) {
  if (!storage) shape.clear();
  typename ArrayOf<T>::strides_type strides(shape.size());
  const size_t size = xt::compute_strides(shape, xt::layout_type::row_major, strides);
  T* data = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    if (storage) data = const_cast<float*>(storage->data());  // its DtypeError says float32
  } else {
    if (storage) data = storage->data_as<T>();
  }
  return ArrayOf<T>(Buffer<T>::borrow(data, storage ? size : 0), std::move(shape),
                    std::move(strides));
}
template Array borrowed<float>(const Storage*, Array::shape_type);
template ArrayOf<double> borrowed<double>(const Storage*, ArrayOf<double>::shape_type);

template <class T>
ArrayOf<T> borrow_values(const Tensor& t) {
  const TensorImpl& impl = *t.impl();
  EMBER_CHECK(!impl.view, "internal: borrow_values of a view (shape ", shape_str(t.shape()),
              "): a view has no array of its own");
  return borrowed<T>(impl.storage.get(), typename ArrayOf<T>::shape_type(impl.layout.shape.begin(),
                                                                         impl.layout.shape.end()));
}

template <class T>
DenseOf<T>::DenseOf(const Tensor& t) : values_(t.is_view() ? pack<T>(t) : borrow_values<T>(t)) {}

template <class T>
ArrayOf<T> own_values(const Tensor& t) {
  return borrow_values<T>(t);
}

template <class T>
ArrayOf<T> pack(const Tensor& t) {
  const TensorImpl& impl = *t.impl();
  if (!impl.view) {
    const ArrayOf<T> borrowed = borrow_values<T>(t);
    return borrowed;  // copied: an array of its own
  }
  const ViewLayout layout = layout_of(t);
  ArrayOf<T> out = ArrayOf<T>::from_shape(to_xshape(layout.shape));
  gather_strided(impl.storage->data_as<T>(), layout.shape, layout.strides, layout.offset,
                 out.data());
  return out;
}

template <class T>
void read_into(const Tensor& t, T* out) {
  const TensorImpl& impl = *t.impl();
  if (!impl.view) {
    std::copy_n(impl.storage->data_as<T>(), t.numel(), out);
    return;
  }
  const ViewLayout layout = layout_of(t);
  gather_strided(impl.storage->data_as<T>(), layout.shape, layout.strides, layout.offset, out);
}

template Array borrow_values<float>(const Tensor&);
template ArrayOf<double> borrow_values<double>(const Tensor&);
template class DenseOf<float>;
template class DenseOf<double>;
template Array own_values<float>(const Tensor&);
template ArrayOf<double> own_values<double>(const Tensor&);
template Array pack<float>(const Tensor&);
template ArrayOf<double> pack<double>(const Tensor&);
template void read_into<float>(const Tensor&, float*);
template void read_into<double>(const Tensor&, double*);

Strided1D strided_1d(const Tensor& t) {
  if (!t.defined()) return {};
  return {t.data_ptr(), t.dim() == 0 ? 0 : t.impl()->layout.strides[0]};
}

Array pack_then(const Tensor& t, const BandDone& done) {
  const ViewLayout layout = layout_of(t);
  Array out = Array::from_shape(to_xshape(layout.shape));
  gather_strided_then(t.impl()->storage->data(), layout.shape, layout.strides, layout.offset,
                      out.data(), done);
  return out;
}

template <class T>
SavedValuesOf<T> saved(const Tensor& t) {
  const TensorImpl& impl = *t.impl();
  if (!impl.view) return SavedValuesOf<T>(impl.storage, impl.layout.shape);
  return SavedValuesOf<T>(impl.storage, layout_of(t));
}
template SavedValuesOf<float> saved<float>(const Tensor&);
template SavedValuesOf<double> saved<double>(const Tensor&);

}  // namespace detail

}  // namespace ember
