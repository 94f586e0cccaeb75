// libFuzzer target: shapes and arguments from the input, passed to the factories (zeros, full,
// tensor, IndexTensor, arange) and then to a chain of views (reshape, view, expand, narrow,
// select, slice, permute, transpose, flatten, (un)squeeze) and IndexTensor's slicing. Every
// failure must be an ember::Error. A view whose elements would reach past its storage, a
// numel that is not its shape's product, or a crash is a finding (ASan reads every element).
#include <cstdint>
#include <cstring>
#include <ember/ember.hpp>
#include <limits>
#include <vector>

namespace {

using ember::Shape;

// Reads the input front to back; past the end everything reads as 0.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  // Mostly small sizes and indices, sometimes the values that break size arithmetic.
  int64_t number() {
    const uint8_t kind = byte();
    if (kind < 160) return kind % 7;
    if (kind < 200) return -static_cast<int64_t>(kind % 4);
    static const int64_t edges[] = {int64_t{1} << 31,
                                    int64_t{1} << 32,
                                    int64_t{1} << 61,
                                    int64_t{1} << 62,
                                    std::numeric_limits<int64_t>::max(),
                                    std::numeric_limits<int64_t>::min(),
                                    -(int64_t{1} << 62),
                                    (int64_t{1} << 31) - 1};
    if (kind < 240) return edges[kind % 8];
    uint64_t raw = 0;
    for (int i = 0; i < 8; ++i) raw = raw << 8 | byte();
    int64_t v;
    std::memcpy(&v, &raw, sizeof v);
    return v;
  }
  Shape shape() {
    Shape s(byte() % 6);
    for (int64_t& d : s) d = number();
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_, at_ = 0;
};

// The product of `s`, or -1 if a size is negative or the product overflows.
int64_t product(const Shape& s) {
  int64_t total = 1;
  for (int64_t d : s)
    if (d < 0 || __builtin_mul_overflow(total, d, &total)) return -1;
  return total;
}

constexpr int64_t kMaxElements = 1 << 16;  // what the target materialises (rss stays small)

// The invariants of a view: its numel is its shape's product, and every element it can reach
// lies inside its storage (then reading them all, under ASan, proves it).
void check_view(const ember::Tensor& t) {
  const Shape shape = t.shape(), strides = t.strides();
  if (product(shape) != t.numel() || strides.size() != shape.size()) __builtin_trap();
  if (t.numel() == 0) return;
  int64_t last = t.storage_offset();
  for (size_t d = 0; d < shape.size(); ++d) {
    if (strides[d] < 0) __builtin_trap();
    last += (shape[d] - 1) * strides[d];
  }
  if (last >= static_cast<int64_t>(t.impl()->storage->numel())) __builtin_trap();
  if (t.numel() <= kMaxElements) {
    volatile float sink = 0;
    for (float v : t.to_vector()) sink = sink + v;
  }
}

ember::Tensor make_tensor(Bytes& in) {
  const uint8_t which = in.byte() % 4;
  const Shape shape = in.shape();
  const int64_t n = product(shape);
  if (n > kMaxElements) return ember::Tensor();  // valid, but too big to allocate here
  switch (which) {
    case 0:
      return ember::zeros(shape);
    case 1:
      return ember::full(shape, 2.f);
    case 2:
      return ember::tensor(std::vector<float>(static_cast<size_t>(n < 0 ? 0 : n), 1.f), shape);
    default: {
      const int64_t end = in.number();
      if (end > kMaxElements) return ember::Tensor();
      return ember::arange(static_cast<float>(end)).reshape(shape);
    }
  }
}

// Views allocate nothing; reshape, flatten and contiguous may copy, so they run only on
// tensors small enough to copy here (a valid request of petabytes is the allocator's matter).
ember::Tensor apply_view(const ember::Tensor& t, Bytes& in) {
  const bool small = t.numel() <= kMaxElements;
  switch (in.byte() % 12) {
    case 0:
      return small ? t.reshape(in.shape()) : t;
    case 1:
      return t.view(in.shape());
    case 2:
      return t.expand(in.shape());
    case 3: {
      const int64_t d = in.number(), start = in.number();
      return t.narrow(d, start, in.number());
    }
    case 4: {
      const int64_t d = in.number();
      return t.select(d, in.number());
    }
    case 5: {
      const int64_t d = in.number(), start = in.number(), end = in.number();
      return t.slice(d, start, end, in.number());
    }
    case 6:
      return t.permute(in.shape());
    case 7: {
      const int64_t d0 = in.number();
      return t.transpose(d0, in.number());
    }
    case 8: {
      const int64_t d0 = in.number(), d1 = in.number();
      return small ? t.flatten(d0, d1) : t;
    }
    case 9:
      return t.unsqueeze(in.number());
    case 10:
      return t.squeeze(in.number());
    default:
      return small ? t.contiguous() : t;
  }
}

void fuzz_index_tensor(Bytes& in) {
  const Shape shape = in.shape();
  const int64_t n = product(shape);
  if (n > kMaxElements) return;
  ember::IndexTensor a(std::vector<int64_t>(static_cast<size_t>(n < 0 ? 0 : n), 3), shape);
  while (!in.done()) {
    switch (in.byte() % 6) {
      case 0:
        a = a.reshape(in.shape());
        break;
      case 1: {
        const int64_t d = in.number(), start = in.number();
        a = a.narrow(d, start, in.number());
        break;
      }
      case 2: {
        const int64_t d = in.number();
        a = a.select(d, in.number());
        break;
      }
      case 3: {
        const int64_t d = in.number(), start = in.number(), end = in.number();
        a = a.slice(d, start, end, in.number());
        break;
      }
      case 4:
        if (a.numel() <= kMaxElements / 2) a = ember::cat({a, a}, in.number());
        break;
      default: {
        const int64_t start = in.number(), end = in.number(), step = in.number();
        const long double length = (static_cast<long double>(end) - start) / (step ? step : 1);
        if (length <= kMaxElements) a = ember::IndexTensor::arange(start, end, step);
      }
    }
    if (product(a.shape()) != a.numel()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  try {
    if (in.byte() % 4 == 0) {
      fuzz_index_tensor(in);
      return 0;
    }
    ember::Tensor t = make_tensor(in);
    if (!t.defined()) return 0;
    check_view(t);
    while (!in.done()) {
      ember::Tensor next = apply_view(t, in);
      check_view(next);
      t = next;
    }
  } catch (const ember::Error&) {
  }
  return 0;
}
