// A tokenizer for any valid UTF-8 text: splits on Unicode whitespace and separates
// punctuation into tokens of their own; optionally lower-cases ASCII letters.
#pragma once

#include <string>
#include <vector>

namespace ember::text {

struct TokenizerOptions {
  bool lower = false;  // ASCII only: Korean and other scripts are left as they are
};

// Throws ValueError "tokenize: invalid UTF-8 at byte N" on malformed input.
std::vector<std::string> tokenize(const std::string& sentence,
                                  const TokenizerOptions& options = {});

// True when `s` is valid UTF-8; otherwise `bad_byte` is the offset of the first bad byte.
bool is_valid_utf8(const std::string& s, size_t* bad_byte = nullptr);

}  // namespace ember::text
