// Storage: a tensor's bytes from the buffer cache, with their dtype and version.
#include <string>

#include "ember/tensor.hpp"

namespace ember {

Storage::Storage(int64_t numel, Dtype dtype) : dtype_(dtype) {
  const int64_t element = static_cast<int64_t>(element_size(dtype));
  detail::checked_numel({numel}, "Storage", element);
  nbytes_ = numel * element;
  if (nbytes_ > 0) bytes_ = detail::cached_alloc(static_cast<size_t>(nbytes_));
}

Storage::Storage(Array&& values) {
  Buffer<float>& buffer = values.storage();
  if (!buffer.owns()) {  // borrowed elements: copy them into a block of our own
    Buffer<float> copy(buffer.begin(), buffer.end());
    buffer.swap(copy);
  }
  const auto [data, count] = buffer.release();
  bytes_ = data;
  nbytes_ = static_cast<int64_t>(count * sizeof(float));
}

Storage::~Storage() {
  if (bytes_ != nullptr) detail::cached_free(bytes_, static_cast<size_t>(nbytes_));
}

}  // namespace ember
