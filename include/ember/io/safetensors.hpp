// io::save / io::load: state dicts in the safetensors format (F32 and I64 tensors plus string
// metadata), readable by PyTorch and written atomically (io/file.hpp).
#pragma once

#include <map>
#include <string>

#include "ember/index_tensor.hpp"
#include "ember/state_dict.hpp"
#include "ember/tensor.hpp"

namespace ember::io {

// Everything a safetensors file can hold that Ember reads.
struct Archive {
  StateDict tensors;                                 // F32
  std::map<std::string, IndexTensor> index_tensors;  // I64
  std::map<std::string, std::string> metadata;       // "__metadata__"
};

void save(const Archive& archive, const std::string& path);
void save(const StateDict& dict, const std::string& path,
          const std::map<std::string, std::string>& metadata = {});

// Throws IoError naming the path and what is wrong (truncated file, bad header, overlapping
// or out-of-range offsets, unsupported dtype, duplicate keys ...).
Archive load_archive(const std::string& path);
// The F32 tensors; a file holding I64 tensors throws (use load_archive).
StateDict load(const std::string& path);

}  // namespace ember::io
