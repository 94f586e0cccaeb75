// Vocab: building by frequency, lookups, and the one-token-per-line file format.
#include "ember/text/vocab.hpp"

#include <algorithm>
#include <fstream>
#include <ostream>

#include "ember/error.hpp"
#include "ember/io/file.hpp"

namespace ember::text {

Vocab::Vocab(std::vector<std::string> tokens, const TokenizerOptions& tokenizer)
    : tokens_(std::move(tokens)), tokenizer_(tokenizer) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    EMBER_CHECK_VALUE(index_.emplace(tokens_[i], static_cast<int64_t>(i)).second, "Vocab: token '",
                      tokens_[i], "' appears twice");
  }
  auto unk = index_.find("<unk>");
  if (unk != index_.end()) unk_ = unk->second;
}

Vocab Vocab::build(const std::vector<std::string>& sentences,
                   const std::vector<std::string>& specials, int64_t min_freq,
                   std::optional<int64_t> max_size, const TokenizerOptions& tokenizer) {
  EMBER_CHECK_VALUE(min_freq >= 1, "Vocab::build: min_freq must be at least 1, got ", min_freq);
  if (max_size) {
    EMBER_CHECK_VALUE(*max_size >= static_cast<int64_t>(specials.size()), "Vocab::build: max_size ",
                      *max_size, " is smaller than the ", specials.size(), " specials");
  }
  struct Count {
    int64_t count = 0;
    size_t first = 0;
  };
  std::unordered_map<std::string, Count> counts;
  std::vector<std::string> order;  // first appearance
  for (size_t s = 0; s < sentences.size(); ++s) {
    std::vector<std::string> toks;
    try {
      toks = tokenize(sentences[s], tokenizer);
    } catch (const ValueError& e) {
      throw ValueError(detail::cat("Vocab::build: sentence ", s, ": ", e.what()));
    }
    for (std::string& t : toks) {
      auto [it, inserted] = counts.try_emplace(t);
      if (inserted) {
        it->second.first = order.size();
        order.push_back(t);
      }
      ++it->second.count;
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    return counts[a].count > counts[b].count;
  });
  std::vector<std::string> tokens = specials;
  for (const std::string& t : order) {
    if (max_size && static_cast<int64_t>(tokens.size()) >= *max_size) break;
    if (counts[t].count < min_freq) continue;
    if (std::find(specials.begin(), specials.end(), t) != specials.end()) continue;
    tokens.push_back(t);
  }
  return Vocab(std::move(tokens), tokenizer);
}

int64_t Vocab::operator[](const std::string& token) const {
  auto it = index_.find(token);
  if (it != index_.end()) return it->second;
  EMBER_CHECK_INDEX(unk_.has_value(), "Vocab: token '", token,
                    "' is not in the vocabulary, which has no <unk>");
  return *unk_;
}

const std::string& Vocab::lookup_token(int64_t id) const {
  EMBER_CHECK_INDEX(id >= 0 && id < size(), "Vocab: id ", id, " out of range for a vocabulary of ",
                    size(), " tokens");
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::string& sentence) const {
  std::vector<int64_t> ids;
  for (const std::string& t : tokenize(sentence, tokenizer_)) ids.push_back((*this)[t]);
  return ids;
}

std::string Vocab::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + lookup_token(ids[i]);
  return out;
}

void Vocab::save(const std::string& path) const {
  std::string bytes;
  for (const std::string& t : tokens_) bytes += t + "\n";
  io::write_file_atomically(path, bytes);
}

Vocab Vocab::load(const std::string& path, const TokenizerOptions& tokenizer) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK_IO(in.good(), "Vocab::load: cannot open '", path, "'");
  std::vector<std::string> tokens;
  std::unordered_map<std::string, size_t> seen;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t bad = 0;
    EMBER_CHECK_IO(is_valid_utf8(line, &bad), path, ":", n, ": invalid UTF-8 at byte ", bad);
    EMBER_CHECK_IO(!line.empty(), path, ":", n, ": empty token");
    auto [it, fresh] = seen.emplace(line, n);
    EMBER_CHECK_IO(fresh, path, ":", n, ": token '", line, "' already on line ", it->second);
    tokens.push_back(line);
  }
  EMBER_CHECK_IO(!tokens.empty(), "Vocab::load: '", path, "' holds no tokens");
  return Vocab(std::move(tokens), tokenizer);
}

std::ostream& operator<<(std::ostream& out, const Vocab& vocab) {
  out << "{";
  for (int64_t i = 0; i < vocab.size(); ++i) {
    out << (i ? ", " : "") << "'" << vocab.lookup_token(i) << "': " << i;
  }
  return out << "}";
}

}  // namespace ember::text
