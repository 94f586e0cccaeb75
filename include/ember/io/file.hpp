// The one file-writing helper every writer uses (io::save, Vocab::save, the data and report
// writers), so a crash mid-write never leaves a half-written file behind.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ember::io {

// Writes `bytes` to `path` through a temporary file in the same folder, flushed and renamed,
// so a crash mid-write leaves the previous file intact. Throws IoError naming the path.
void write_file_atomically(const std::string& path, const std::string& bytes);
// The same for a file made of pieces, written one after the other: a writer need not copy a
// model's tensors into one string first (that copy doubled the memory of saving a model).
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces);

}  // namespace ember::io
