// The element type of a tensor's storage. Float32 is the only one until the dtype issue adds
// float64, bfloat16 and bool; the tag is in the storage so that kernels can check it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember {

enum class Dtype : uint8_t { Float32 };
inline constexpr Dtype kFloat32 = Dtype::Float32;

// Bytes per element, and the name PyTorch prints ("float32").
constexpr std::size_t element_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32:
      return 4;
  }
  return 0;
}
const char* dtype_name(Dtype dtype);

}  // namespace ember
