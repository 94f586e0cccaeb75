// The element type of a tensor's storage: float32 (the default), float64 (ops compute in
// either), bfloat16 and bool. The tag is in the storage (ember/tensor.hpp): kernels check it.
// docs/guide.md ("Dtypes") says what each one does today.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ember {

enum class Dtype : uint8_t { Float32, Float64, BFloat16, Bool };
inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kBFloat16 = Dtype::BFloat16;
inline constexpr Dtype kBool = Dtype::Bool;
// LibTorch's other spellings.
inline constexpr Dtype kFloat = kFloat32;
inline constexpr Dtype kDouble = kFloat64;

// Bytes per element, and the name PyTorch prints ("float32", "bfloat16", ...).
constexpr std::size_t element_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32:
      return 4;
    case Dtype::Float64:
      return 8;
    case Dtype::BFloat16:
      return 2;
    case Dtype::Bool:
      return 1;
  }
  return 0;
}
const char* dtype_name(Dtype dtype);
constexpr bool is_floating_point(Dtype dtype) { return dtype != Dtype::Bool; }

// The dtype of a binary op's result, as PyTorch's torch.promote_types for these four:
// bool < bfloat16 < float32 < float64 (the wider float wins; bool with a float is the float).
constexpr Dtype promote_types(Dtype a, Dtype b) {
  auto rank = [](Dtype d) {
    switch (d) {
      case Dtype::Bool:
        return 0;
      case Dtype::BFloat16:
        return 1;
      case Dtype::Float32:
        return 2;
      case Dtype::Float64:
        return 3;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

// bfloat16: the top 16 bits of a float32 (8 exponent bits, 7 mantissa bits). From float it
// rounds to nearest, ties to even, and keeps NaN a NaN, bit for bit as PyTorch's c10::BFloat16.
struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  BFloat16(float value) : bits(round(value)) {}  // NOLINT(google-explicit-constructor)
  operator float() const {                       // NOLINT(google-explicit-constructor)
    const uint32_t wide = static_cast<uint32_t>(bits) << 16;
    float out;
    std::memcpy(&out, &wide, sizeof out);
    return out;
  }

  static uint16_t round(float value) {
    uint32_t u;
    std::memcpy(&u, &value, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // NaN (any payload): the quiet NaN
    const uint32_t lsb = (u >> 16) & 1u;                 // ties go to the even neighbour
    return static_cast<uint16_t>((u + 0x7fffu + lsb) >> 16);
  }
};

// The dtype of a C++ element type, for typed access to a storage (Tensor::data_ptr<T>()).
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr Dtype value = kFloat32;
};
template <>
struct dtype_of<double> {
  static constexpr Dtype value = kFloat64;
};
template <>
struct dtype_of<BFloat16> {
  static constexpr Dtype value = kBFloat16;
};
template <>
struct dtype_of<bool> {
  static constexpr Dtype value = kBool;
};

}  // namespace ember
