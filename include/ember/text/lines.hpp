// The one way Ember reads text line by line: '\r' before '\n' and a UTF-8 byte-order mark at
// the start of the input dropped, each line checked as UTF-8, errors naming "PATH:LINE".
// Vocab, LabelSet, read_tsv, word vectors and the classifier CLI all read through it.
#pragma once

#include <fstream>
#include <istream>
#include <string>

namespace ember::text {

class LineReader {
 public:
  // Opens `path`; throws IoError "<who>: cannot open 'path'".
  LineReader(const std::string& path, const std::string& who);
  // Reads from a stream someone else owns (stdin); `name` stands for the path in errors.
  LineReader(std::istream& in, std::string name);

  // The next line without its end, or false at the end of the input. Throws IoError
  // "PATH:N: invalid UTF-8 at byte B".
  bool next(std::string& line);
  size_t line_number() const { return line_; }
  std::string where() const;  // "PATH:N" for error messages
  std::istream& stream() { return *in_; }

 private:
  std::ifstream file_;
  std::istream* in_;
  std::string name_;
  size_t line_ = 0;
};

}  // namespace ember::text
