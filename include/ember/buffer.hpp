// Buffer: the element container behind ember::Array. It owns a block from Ember's buffer cache,
// as xtensor's uvector does, or borrows a tensor's storage (so that kernels read a tensor as an
// Array without copying it). Copying always copies the elements into an owned block; moving
// moves the block, or the borrow.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <utility>

#include "ember/allocator.hpp"

namespace ember {

template <class T>
class Buffer {
 public:
  using allocator_type = CachingAllocator<T>;
  using value_type = T;
  using reference = T&;
  using const_reference = const T&;
  using pointer = T*;
  using const_pointer = const T*;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  Buffer() noexcept = default;
  explicit Buffer(size_type n) { allocate(n); }
  Buffer(size_type n, const T& value) {
    allocate(n);
    std::fill(begin(), end(), value);
  }
  template <class It, class = typename std::iterator_traits<It>::iterator_category>
  Buffer(It first, It last) {
    allocate(static_cast<size_type>(std::distance(first, last)));
    std::copy(first, last, begin());
  }
  Buffer(std::initializer_list<T> values) : Buffer(values.begin(), values.end()) {}
  Buffer(const Buffer& other) : Buffer(other.begin(), other.end()) {}
  Buffer(Buffer&& other) noexcept { swap(other); }
  Buffer& operator=(const Buffer& other) {
    if (this != &other) Buffer(other).swap(*this);
    return *this;
  }
  Buffer& operator=(Buffer&& other) noexcept {
    Buffer(std::move(other)).swap(*this);
    return *this;
  }
  ~Buffer() { release_owned(); }

  // A buffer over `n` elements at `data` that someone else keeps alive; writes go there.
  static Buffer borrow(T* data, size_type n) noexcept {
    Buffer b;
    b.data_ = data;
    b.size_ = n;
    b.owned_ = false;
    return b;
  }
  bool owns() const noexcept { return owned_; }
  // Gives up an owned block (returned with its element count; the caller frees it with
  // detail::cached_free(p, n * sizeof(T))); a borrowed or empty buffer gives nullptr.
  std::pair<T*, size_type> release() noexcept {
    if (!owned_ || data_ == nullptr) return {nullptr, 0};
    std::pair<T*, size_type> out{data_, size_};
    data_ = nullptr;
    size_ = 0;
    return out;
  }

  allocator_type get_allocator() const noexcept { return {}; }
  bool empty() const noexcept { return size_ == 0; }
  size_type size() const noexcept { return size_; }
  size_type max_size() const noexcept { return size_type(-1) / sizeof(T); }
  // As uvector's: a new size gets a new owned block, its elements uninitialised.
  void resize(size_type n) {
    if (n == size_) return;
    Buffer fresh(n);
    swap(fresh);
  }
  void swap(Buffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(owned_, other.owned_);
  }

  reference operator[](size_type i) { return data_[i]; }
  const_reference operator[](size_type i) const { return data_[i]; }
  reference front() { return data_[0]; }
  const_reference front() const { return data_[0]; }
  reference back() { return data_[size_ - 1]; }
  const_reference back() const { return data_[size_ - 1]; }
  pointer data() noexcept { return data_; }
  const_pointer data() const noexcept { return data_; }
  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }
  const_iterator cbegin() const noexcept { return data_; }
  const_iterator cend() const noexcept { return data_ + size_; }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }
  const_reverse_iterator crbegin() const noexcept { return rbegin(); }
  const_reverse_iterator crend() const noexcept { return rend(); }

 private:
  void allocate(size_type n) {
    if (n > 0) data_ = allocator_type().allocate(n);
    size_ = n;
    owned_ = true;
  }
  void release_owned() noexcept {
    if (owned_ && data_ != nullptr) allocator_type().deallocate(data_, size_);
  }
  T* data_ = nullptr;
  size_type size_ = 0;
  bool owned_ = true;
};

template <class T>
bool operator==(const Buffer<T>& a, const Buffer<T>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}
template <class T>
bool operator!=(const Buffer<T>& a, const Buffer<T>& b) {
  return !(a == b);
}

}  // namespace ember
