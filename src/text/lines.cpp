// LineReader: CR stripping and UTF-8 checks in one place.
#include "ember/text/lines.hpp"

#include <filesystem>

#include "ember/error.hpp"
#include "ember/text/tokenizer.hpp"

namespace ember::text {

LineReader::LineReader(const std::string& path, const std::string& who)
    : file_(path, std::ios::binary), in_(&file_), name_(path) {
  std::error_code ec;
  EMBER_CHECK_IO(!std::filesystem::is_directory(path, ec), who, ": '", path,
                 "' is a directory, not a file");
  EMBER_CHECK_IO(file_.good(), who, ": cannot open '", path, "'");
}

LineReader::LineReader(std::istream& in, std::string name) : in_(&in), name_(std::move(name)) {}

bool LineReader::next(std::string& line) {
  if (!std::getline(*in_, line)) return false;
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  // A UTF-8 byte-order mark (as Windows editors write) is not part of the first line's text.
  if (line_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  size_t bad = 0;
  EMBER_CHECK_IO(is_valid_utf8(line, &bad), where(), ": invalid UTF-8 at byte ", bad);
  return true;
}

std::string LineReader::where() const { return name_ + ":" + std::to_string(line_); }

}  // namespace ember::text
