// Checkpoints for data-parallel training: rank 0 writes the model's state_dict, the
// optimizer's state and the step into one safetensors file, atomically (a crash mid-write
// leaves the previous checkpoint); every rank can read it back. Loading does not depend on the
// number of ranks that wrote it, so a run can resume with a different world size.
#pragma once

#include <cstdint>
#include <string>

#include "ember/io/safetensors.hpp"
#include "ember/nn/module.hpp"

namespace ember::distributed {

struct Checkpoint {
  StateDict model;
  io::Archive optimizer;  // as Optimizer::state_dict()
  int64_t step = 0;
};

// Rank 0 writes; the others wait at a barrier until the file is complete. Without an
// Environment (a single process) it just writes.
void save_checkpoint(const std::string& path, const StateDict& model, const io::Archive& optimizer,
                     int64_t step);
// Throws IoError naming the path when the file is missing or is not a checkpoint.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace ember::distributed
