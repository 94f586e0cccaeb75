// Writing autocast's bfloat16 copy of a parameter in an optimizer's pass (rounded_copies.hpp).
#include "ember/optim/rounded_copies.hpp"

namespace ember::optim {

uint16_t* RoundedCopies::target(const Tensor& p) {
  const std::shared_ptr<Storage>& storage = p.impl()->storage;
  if (p.dtype() != kFloat32 || !p.is_contiguous() || p.storage_offset() != 0 ||
      p.numel() != storage->numel())
    return nullptr;
  const std::shared_ptr<const Storage::RoundedCopy> held = std::atomic_load(&storage->rounded_copy);
  if (!held || held->values->numel() != p.numel()) return nullptr;
  written_.emplace_back(storage, held->values);
  return static_cast<uint16_t*>(held->values->bytes());
}

void RoundedCopies::stamp() {
  for (const auto& [storage, values] : written_)
    std::atomic_store(&storage->rounded_copy,
                      std::make_shared<const Storage::RoundedCopy>(Storage::RoundedCopy{
                          values, storage->version.load(std::memory_order_relaxed)}));
  written_.clear();
}

}  // namespace ember::optim
