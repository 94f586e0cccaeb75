// text::Vocab: tokens <-> ids. Specials come first (so "<unk>" = 0 and "<pad>" = 1 by
// default), then tokens by frequency, ties broken by first appearance.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ember/text/tokenizer.hpp"

namespace ember::text {

class Vocab {
 public:
  // max_size counts the specials too (as torchtext's max_tokens); min_freq drops rare tokens.
  static Vocab build(const std::vector<std::string>& sentences,
                     const std::vector<std::string>& specials = {"<unk>", "<pad>"},
                     int64_t min_freq = 1, std::optional<int64_t> max_size = std::nullopt,
                     const TokenizerOptions& tokenizer = {});
  // From (token, count) pairs in order of first appearance, as counted by the caller (in
  // parallel, say): the same vocabulary build() makes from the same counts.
  static Vocab from_counts(const std::vector<std::pair<std::string, int64_t>>& counts,
                           const std::vector<std::string>& specials = {"<unk>", "<pad>"},
                           int64_t min_freq = 1, std::optional<int64_t> max_size = std::nullopt,
                           const TokenizerOptions& tokenizer = {});
  explicit Vocab(std::vector<std::string> tokens, const TokenizerOptions& tokenizer = {});

  // Unknown tokens map to "<unk>"; without an "<unk>" they throw IndexError.
  int64_t operator[](const std::string& token) const;
  bool contains(const std::string& token) const { return index_.count(token) > 0; }
  const std::string& lookup_token(int64_t id) const;
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // A temporary's tokens are moved out, not referenced: `for (auto& t : Vocab::load(p).tokens())`
  // would otherwise read freed memory.
  const std::vector<std::string>& tokens() const& { return tokens_; }
  std::vector<std::string> tokens() && { return std::move(tokens_); }
  std::optional<int64_t> unk_index() const { return unk_; }
  const TokenizerOptions& tokenizer() const { return tokenizer_; }

  std::vector<int64_t> encode(const std::string& sentence) const;
  // Tokens joined by spaces (by nothing in a character mode).
  std::string decode(const std::vector<int64_t>& ids) const;

  // One token per line, UTF-8; written atomically. A TokenUnit::RawCodePoint vocabulary
  // escapes its line breaks, byte-order mark and backslash (\n, \r, \uFEFF, \\).
  void save(const std::string& path) const;
  // Throws IoError naming the file and line (missing file, invalid UTF-8, empty or repeated
  // token); unk is "<unk>" when present.
  static Vocab load(const std::string& path, const TokenizerOptions& tokenizer = {});

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> index_;
  std::optional<int64_t> unk_;
  TokenizerOptions tokenizer_;
};

// Like a Python dict: {'<unk>': 0, '<pad>': 1, '내': 2}
std::ostream& operator<<(std::ostream& out, const Vocab& vocab);

}  // namespace ember::text
