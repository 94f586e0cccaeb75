// Vocab: building by frequency, lookups, and the one-token-per-line file format.
#include "ember/text/vocab.hpp"

#include <algorithm>
#include <ostream>

#include "ember/error.hpp"
#include "ember/io/file.hpp"
#include "ember/text/lines.hpp"

namespace ember::text {

namespace {
// A raw code-point vocabulary has tokens a line cannot hold ('\n', '\r') and one the line
// reader drops at the start of a file (the byte-order mark): its file escapes them, and the
// backslash, as C does.
const char* const kBom = "\xEF\xBB\xBF";

std::string escape_raw(const std::string& token) {
  std::string out;
  for (char c : token)
    out += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c);
  return out.compare(0, 3, kBom) == 0 ? "\\uFEFF" + out.substr(3) : out;
}

std::string unescape_raw(const std::string& line, const LineReader& in) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\') {
      out += line[i];
      continue;
    }
    const char next = i + 1 < line.size() ? line[i + 1] : '\0';
    if (next == '\\' || next == 'n' || next == 'r') {
      out += next == 'n' ? '\n' : next == 'r' ? '\r' : '\\';
      ++i;
    } else {
      EMBER_CHECK_IO(line.compare(i, 6, "\\uFEFF") == 0, in.where(), ": unknown escape at byte ", i,
                     " in a raw code-point vocabulary (known: \\\\, \\n, \\r, \\uFEFF)");
      out += kBom;
      i += 5;
    }
  }
  return out;
}
}  // namespace

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
  std::unordered_map<std::string, size_t> slot;
  std::vector<std::pair<std::string, int64_t>> counts;  // first appearance
  for (size_t s = 0; s < sentences.size(); ++s) {
    std::vector<std::string> toks;
    try {
      toks = tokenize(sentences[s], tokenizer);
    } catch (const ValueError& e) {
      throw ValueError(detail::cat("Vocab::build: sentence ", s, ": ", e.what()));
    }
    for (std::string& t : toks) {
      auto [it, inserted] = slot.try_emplace(t, counts.size());
      if (inserted) counts.emplace_back(std::move(t), 0);
      ++counts[it->second].second;
    }
  }
  return from_counts(counts, specials, min_freq, max_size, tokenizer);
}

Vocab Vocab::from_counts(const std::vector<std::pair<std::string, int64_t>>& counts,
                         const std::vector<std::string>& specials, int64_t min_freq,
                         std::optional<int64_t> max_size, const TokenizerOptions& tokenizer) {
  EMBER_CHECK_VALUE(min_freq >= 1, "Vocab::build: min_freq must be at least 1, got ", min_freq);
  if (max_size) {
    EMBER_CHECK_VALUE(*max_size >= static_cast<int64_t>(specials.size()), "Vocab::build: max_size ",
                      *max_size, " is smaller than the ", specials.size(), " specials");
  }
  std::vector<size_t> order(counts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return counts[a].second > counts[b].second; });
  std::vector<std::string> tokens = specials;
  for (size_t i : order) {
    const auto& [t, count] = counts[i];
    if (max_size && static_cast<int64_t>(tokens.size()) >= *max_size) break;
    if (count < min_freq) continue;
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
  // Characters join as they were written; words with a space between.
  const char* sep = tokenizer_.unit == TokenUnit::Word ? " " : "";
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? sep : "") + lookup_token(ids[i]);
  return out;
}

void Vocab::save(const std::string& path) const {
  std::string bytes;
  const bool raw = tokenizer_.unit == TokenUnit::RawCodePoint;
  for (const std::string& t : tokens_) bytes += (raw ? escape_raw(t) : t) + "\n";
  io::write_file_atomically(path, bytes);
}

Vocab Vocab::load(const std::string& path, const TokenizerOptions& tokenizer) {
  LineReader in(path, "Vocab::load");
  std::vector<std::string> tokens;
  std::unordered_map<std::string, size_t> seen;
  std::string line;
  while (in.next(line)) {
    EMBER_CHECK_IO(!line.empty(), in.where(), ": empty token");
    if (tokenizer.unit == TokenUnit::RawCodePoint) line = unescape_raw(line, in);
    auto [it, fresh] = seen.emplace(line, in.line_number());
    EMBER_CHECK_IO(fresh, in.where(), ": token '", line, "' already on line ", it->second);
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
