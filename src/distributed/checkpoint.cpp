// Checkpoints: "model.<name>" and "optimizer.<key>" entries of one safetensors file, written by
// rank 0 through io::save (temporary file, flush, rename).
#include "ember/distributed/checkpoint.hpp"

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "ember/distributed/environment.hpp"

namespace ember::distributed {

namespace {
const std::string kModel = "model.", kOptimizer = "optimizer.";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
}  // namespace

void save_checkpoint(const std::string& path, const StateDict& model, const io::Archive& optimizer,
                     int64_t step) {
  const bool distributed = Environment::exists();
  if (!distributed || Environment::current().rank() == 0) {
    io::Archive archive;
    for (const auto& [name, t] : model) archive.tensors[kModel + name] = t;
    for (const auto& [name, t] : optimizer.tensors) archive.tensors[kOptimizer + name] = t;
    for (const auto& [name, t] : optimizer.index_tensors)
      archive.index_tensors[kOptimizer + name] = t;
    for (const auto& [key, value] : optimizer.metadata) archive.metadata[kOptimizer + key] = value;
    archive.metadata["ember.checkpoint.step"] = std::to_string(step);
    io::save(archive, path);
  }
  // Nobody reads a checkpoint before it is complete.
  if (distributed) barrier();
}

Checkpoint load_checkpoint(const std::string& path) {
  EMBER_CHECK_IO(std::filesystem::exists(path), "load_checkpoint: no file '", path, "'");
  io::Archive archive = io::load_archive(path);
  auto step = archive.metadata.find("ember.checkpoint.step");
  EMBER_CHECK_IO(step != archive.metadata.end(), "load_checkpoint: '", path,
                 "' is not a checkpoint (no ember.checkpoint.step in its metadata)");
  Checkpoint c;
  const std::string& text = step->second;
  char* end = nullptr;
  errno = 0;
  c.step = std::strtoll(text.c_str(), &end, 10);
  EMBER_CHECK_IO(!text.empty() && *end == '\0' && errno == 0 && c.step >= 0, "load_checkpoint: '",
                 path, "': ember.checkpoint.step is '", text, "', not a non-negative integer");
  for (auto& [name, t] : archive.tensors) {
    if (starts_with(name, kModel)) c.model[name.substr(kModel.size())] = t;
    if (starts_with(name, kOptimizer)) c.optimizer.tensors[name.substr(kOptimizer.size())] = t;
  }
  for (auto& [name, t] : archive.index_tensors)
    if (starts_with(name, kOptimizer))
      c.optimizer.index_tensors.emplace(name.substr(kOptimizer.size()), t);
  for (auto& [key, value] : archive.metadata)
    if (starts_with(key, kOptimizer)) c.optimizer.metadata[key.substr(kOptimizer.size())] = value;
  return c;
}

}  // namespace ember::distributed
