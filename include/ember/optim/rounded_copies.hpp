// For an optimizer's update: autocast keeps a bfloat16 copy of each float32 parameter it
// multiplies on the bf16_native path (ember/autocast.hpp), made once per version. An update
// that writes a parameter can write its copy in the same pass (a third of the bytes of rounding
// it again in the next forward), and then stamp it current:
//
//   optim::RoundedCopies copies;
//   for_each_param(... uint16_t* w16 = copies.target(p); ... write w[i] and w16[i] ...);
//   copies.stamp();  // after every write to the parameters
//
// Adam and AdamW do so; another optimizer's step leaves the copies stale, and the next forward
// rounds its parameters again (correct, one pass slower).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "ember/tensor.hpp"

namespace ember::optim {

class RoundedCopies {
 public:
  // Where to write p's copy (bfloat16 bits, in p's flat order, every element), or null when p
  // has none (autocast never multiplied it, or p is not a whole float32 storage).
  uint16_t* target(const Tensor& p);
  // Marks each copy written as current at its parameter's version now.
  void stamp();

 private:
  std::vector<std::pair<std::shared_ptr<const Storage>, std::shared_ptr<const Storage>>> written_;
};

}  // namespace ember::optim
