// SavedValues: an op's input or output values kept for backward, version-checked on every
// read; a view's values are packed on first read, a bfloat16 copy (autocast's) widened.
#include <mutex>
#include <optional>
#include <type_traits>

#include "dense.hpp"
#include "ember/autograd.hpp"
#include "ops/kernels.hpp"
#include "ops/op_helpers.hpp"

namespace ember {

using detail::borrowed;

template <class T>
struct SavedValuesOf<T>::SavedView {
  Shape shape, strides;
  int64_t offset = 0;
  // Kernels read saved values from the pool's threads (conv's rows): the first read packs once.
  std::once_flag packing;
  std::optional<ArrayOf<T>> packed;
};

template <class T>
void SavedValuesOf<T>::throw_modified() const {
  const char* op = detail::current_backward_op();
  throw Error(detail::cat(op ? op : "backward", ": a tensor saved for backward (shape ",
                          detail::shape_str(view_ ? view_->shape : detail::to_shape(values_)),
                          ") was modified by an inplace operation: it is at version ",
                          storage_->version.load(std::memory_order_relaxed), "; expected version ",
                          version_, " instead"));
}

template <class T>
SavedValuesOf<T>::SavedValuesOf() : values_(borrowed<T>(nullptr, {})) {}

template <class T>
SavedValuesOf<T>::SavedValuesOf(std::shared_ptr<const Storage> storage, const Dims& shape)
    : storage_(std::move(storage)),
      values_(
          borrowed<T>(storage_.get(), typename ArrayOf<T>::shape_type(shape.begin(), shape.end()))),
      version_(storage_->version.load(std::memory_order_relaxed)) {}

template <class T>
SavedValuesOf<T>::SavedValuesOf(std::shared_ptr<const Storage> storage, const ViewLayout& layout)
    : storage_(std::move(storage)),
      view_(std::make_shared<SavedView>()),
      values_(borrowed<T>(nullptr, {})),
      version_(storage_->version.load(std::memory_order_relaxed)) {
  view_->shape = layout.shape;
  view_->strides = layout.strides;
  view_->offset = layout.offset;
}

template <class T>
SavedValuesOf<T> SavedValuesOf<T>::rounded_to_bfloat16(const Tensor& t) {
  EMBER_CHECK_DTYPE((std::is_same_v<T, float>), "autocast: only float32 activations are kept ",
                    "in bfloat16, and this one is ", dtype_name(t.dtype()));
  ViewLayout packed;
  packed.shape = t.shape();
  packed.strides = detail::contiguous_strides(packed.shape);
  return SavedValuesOf(detail::convert_storage(t, kBFloat16), packed);
}

// A copy borrows the storage afresh: copying the borrowing array would copy the elements.
template <class T>
SavedValuesOf<T>::SavedValuesOf(const SavedValuesOf& other)
    : storage_(other.storage_),
      view_(other.view_),
      values_(borrowed<T>(view_ ? nullptr : storage_.get(), other.values_.shape())),
      version_(other.version_) {}
template <class T>
SavedValuesOf<T>& SavedValuesOf<T>::operator=(const SavedValuesOf& other) {
  if (this != &other) {
    SavedValuesOf copy(other);
    *this = std::move(copy);
  }
  return *this;
}

template <class T>
const ArrayOf<T>& SavedValuesOf<T>::packed() const {
  SavedView& v = *view_;
  std::call_once(v.packing, [&] {
    v.packed.emplace(ArrayOf<T>::from_shape(detail::to_xshape(v.shape)));
    if constexpr (std::is_same_v<T, float>) {
      if (storage_->dtype() == kBFloat16) {  // rounded_to_bfloat16's packed copy
        detail::kernels::from_bf16(static_cast<const uint16_t*>(storage_->bytes()),
                                   v.packed->data(), static_cast<int64_t>(v.packed->size()));
        return;
      }
    }
    detail::gather_strided(storage_->template data_as<T>(), v.shape, v.strides, v.offset,
                           v.packed->data());
  });
  return *v.packed;
}

template class SavedValuesOf<float>;
template class SavedValuesOf<double>;

}  // namespace ember
