// Storage: a tensor's bytes from the buffer cache, with their dtype and version.
#include <string>
#include <tuple>
#include <utility>

#include "ember/tensor.hpp"

namespace ember {

Storage::Storage(int64_t numel, Dtype dtype) : dtype_(dtype) {
  const int64_t element = static_cast<int64_t>(element_size(dtype));
  detail::checked_numel({numel}, "Storage", element);
  nbytes_ = numel * element;
  if (nbytes_ > 0) bytes_ = detail::cached_alloc(static_cast<size_t>(nbytes_));
}

namespace {
// An array's block as a storage's bytes: taken over, or copied when the array borrows it.
template <class T>
std::pair<void*, int64_t> take_block(ArrayOf<T>& values) {
  Buffer<T>& buffer = values.storage();
  if (!buffer.owns()) {  // borrowed elements: copy them into a block of our own
    Buffer<T> copy(buffer.begin(), buffer.end());
    buffer.swap(copy);
  }
  const auto [data, count] = buffer.release();
  return {data, static_cast<int64_t>(count * sizeof(T))};
}
}  // namespace

Storage::Storage(Array&& values) { std::tie(bytes_, nbytes_) = take_block(values); }

Storage::Storage(ArrayOf<double>&& values) : dtype_(kFloat64) {
  std::tie(bytes_, nbytes_) = take_block(values);
}

Storage::~Storage() {
  if (bytes_ != nullptr) detail::cached_free(bytes_, static_cast<size_t>(nbytes_));
}

}  // namespace ember
