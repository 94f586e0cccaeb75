// io::save / io::load: state dicts in the safetensors format (F32, F64, BF16, BOOL and I64
// tensors plus string metadata), readable by PyTorch and written atomically (io/file.hpp).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "ember/index_tensor.hpp"
#include "ember/options.hpp"
#include "ember/state_dict.hpp"
#include "ember/tensor.hpp"

namespace ember::io {

using Metadata = std::map<std::string, std::string>;

// Everything a safetensors file can hold that Ember reads.
struct Archive {
  StateDict tensors;                                 // F32, F64, BF16, BOOL (F16 read as F32)
  std::map<std::string, IndexTensor> index_tensors;  // I64
  Metadata metadata;                                 // "__metadata__"
};

// How io::save writes: io::save(model.state_dict(), path, io::SaveOptions().dtype(kBFloat16)).
struct SaveOptions {
  // Every float32 tensor is written in this floating dtype, rounded as to() rounds: a float32
  // model saved in bfloat16 is half the file (PyTorch's `{k: v.bfloat16() for k, v in
  // sd.items()}` before saving). Tensors of other dtypes are written as they are: bool and
  // int64 ones, and float64 ones, which in Ember are float64 on purpose. Unset, every tensor
  // is written in its own dtype.
  EMBER_ARG(std::optional<Dtype>, dtype) = std::nullopt;
  // Written as "__metadata__"; added to an Archive's own (a key in both throws IoError).
  EMBER_ARG(Metadata, metadata) = {};
};

void save(const Archive& archive, const std::string& path, const SaveOptions& options = {});
void save(const StateDict& dict, const std::string& path, const SaveOptions& options);
void save(const StateDict& dict, const std::string& path, const Metadata& metadata = {});

// Each tensor comes back in its file's dtype (F16, which Ember lacks, as float32: exact).
// Throws IoError naming the path, the tensor and what is wrong (truncated file, bad header,
// overlapping or out-of-range offsets, a byte count that does not match the dtype, a BOOL
// byte other than 0 or 1, an unsupported dtype, duplicate keys ...).
Archive load_archive(const std::string& path);
// The tensors; a file holding I64 tensors throws (use load_archive).
StateDict load(const std::string& path);

}  // namespace ember::io
