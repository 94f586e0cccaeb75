// Byte-level BPE: GPT-2's pieces (cached), each merged by rank with a heap over adjacent
// pairs, so a long piece costs n log n instead of GPT-2's n^2 rescans.
#include "ember/text/bpe.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include "../io/json.hpp"
#include "ember/error.hpp"
#include "ember/io/file.hpp"
#include "ember/text/lines.hpp"
#include "utf8.hpp"
#include "word_cache.hpp"

namespace ember::text {

namespace {

uint64_t pair_key(int64_t a, int64_t b) {
  return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b);
}

// The raw bytes a byte-level spelling stands for; nullopt when a character is not one of the
// 256 (an added token such as "[MASK]" written outside the byte alphabet).
std::optional<std::string> unicode_to_bytes(const std::string& token) {
  static const std::unordered_map<int32_t, unsigned char> inverse = [] {
    std::unordered_map<int32_t, unsigned char> m;
    for (int b = 0; b < 256; ++b) {
      const std::string& s = byte_to_unicode(static_cast<unsigned char>(b));
      size_t i = 0;
      m[detail::next_code_point(s, i, "byte_to_unicode")] = static_cast<unsigned char>(b);
    }
    return m;
  }();
  std::string out;
  for (size_t i = 0; i < token.size();) {
    utf8proc_int32_t cp = 0;
    auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(token.data()) + i,
                                static_cast<utf8proc_ssize_t>(token.size() - i), &cp);
    if (len <= 0) return std::nullopt;
    i += static_cast<size_t>(len);
    auto it = inverse.find(cp);
    if (it == inverse.end()) return std::nullopt;
    out += static_cast<char>(it->second);
  }
  return out;
}

std::string read_file(const std::string& path, const char* who) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK_IO(in.good(), who, ": cannot open '", path, "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

ByteLevelBPETokenizer::ByteLevelBPETokenizer(
    std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges,
    bool add_prefix_space, const std::string& who)
    : merges_(std::move(merges)),
      add_prefix_space_(add_prefix_space),
      cache_(std::make_shared<WordCache>()) {
  set_vocab(std::move(vocab), who);
  for (int b = 0; b < 256; ++b) {
    const std::string& spelled = byte_to_unicode(static_cast<unsigned char>(b));
    auto it = vocab_index().find(spelled);
    EMBER_CHECK_VALUE(it != vocab_index().end(), who, ": byte ", b, " ('", spelled,
                      "') has no token in the vocabulary; a byte-level vocabulary needs all 256");
    byte_ids_[b] = it->second;
  }
  for (const std::string& token : vocab_tokens())
    bytes_of_.push_back(unicode_to_bytes(token).value_or(token));
  ranks_.reserve(merges_.size());
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto& [left, right] = merges_[r];
    auto l = vocab_index().find(left), rt = vocab_index().find(right),
         m = vocab_index().find(left + right);
    EMBER_CHECK_VALUE(
        l != vocab_index().end() && rt != vocab_index().end() && m != vocab_index().end(), who,
        ": merge ", r, " '", left, " ", right,
        "' uses or makes a token that is not in the vocabulary");
    // A repeated merge keeps its first (best) rank.
    ranks_.emplace(pair_key(l->second, rt->second),
                   std::make_pair(static_cast<int32_t>(r), static_cast<int32_t>(m->second)));
  }
  if (vocab_index().count("<|endoftext|>")) {
    SpecialTokens roles;
    roles.bos = roles.eos = roles.unk = std::string("<|endoftext|>");
    set_special_tokens(roles);
  }
  set_post_processor({{{"", 0, 0}}, {{"", 0, 0}, {"", 1, 1}}});
}

ByteLevelBPETokenizer ByteLevelBPETokenizer::from_files(const std::string& vocab_json,
                                                        const std::string& merges_txt) {
  const char* who = "ByteLevelBPETokenizer";
  std::string text = read_file(vocab_json, who);
  io::json::Value doc;
  try {
    doc = io::json::parse(text);
  } catch (const io::json::ParseError& e) {
    throw IoError(ember::detail::cat(vocab_json, ":", e.line, ": ", e.what()));
  }
  EMBER_CHECK_IO(doc.kind == io::json::Value::Kind::Object, vocab_json,
                 ":1: vocab.json must be an object {\"token\": id}");
  std::vector<std::string> tokens(doc.object.size());
  std::vector<bool> seen(doc.object.size(), false);
  for (const auto& [token, id] : doc.object) {
    double v = id.number;
    EMBER_CHECK_IO(id.kind == io::json::Value::Kind::Number && v >= 0 &&
                       v < static_cast<double>(tokens.size()) && v == static_cast<int64_t>(v) &&
                       !seen[static_cast<size_t>(v)],
                   vocab_json, ": token '", token, "' has id ",
                   id.kind == io::json::Value::Kind::Number ? std::to_string(v) : "(not a number)",
                   "; ids must be distinct integers 0..", tokens.size() - 1);
    seen[static_cast<size_t>(v)] = true;
    tokens[static_cast<size_t>(v)] = token;
  }
  std::unordered_map<std::string, int64_t> index;
  for (size_t i = 0; i < tokens.size(); ++i) index[tokens[i]] = static_cast<int64_t>(i);

  LineReader reader(merges_txt, who);
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  while (reader.next(line)) {
    if (reader.line_number() == 1 && line.rfind("#version", 0) == 0) continue;
    if (line.empty()) continue;
    size_t space = line.find(' ');
    EMBER_CHECK_IO(space != std::string::npos && space > 0 && space + 1 < line.size() &&
                       line.find(' ', space + 1) == std::string::npos,
                   reader.where(), ": expected 'left right', got '", line, "'");
    std::string left = line.substr(0, space), right = line.substr(space + 1);
    for (const std::string& t : {left, right, left + right})
      EMBER_CHECK_IO(index.count(t), reader.where(), ": merge '", line, "': '", t, "' is not in ",
                     vocab_json);
    merges.emplace_back(std::move(left), std::move(right));
  }
  return ByteLevelBPETokenizer(std::move(tokens), std::move(merges), false, vocab_json);
}

void ByteLevelBPETokenizer::save(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  std::string vocab = "{";
  for (size_t i = 0; i < vocab_tokens().size(); ++i)
    vocab += (i ? ", " : "") + io::json::quote(vocab_tokens()[i]) + ": " + std::to_string(i);
  io::write_file_atomically(dir + "/vocab.json", vocab + "}\n");
  std::string merges = "#version: 0.2\n";
  for (const auto& [left, right] : merges_) merges += left + " " + right + "\n";
  io::write_file_atomically(dir + "/merges.txt", merges);
}

void ByteLevelBPETokenizer::encode_word(const std::string& word, std::vector<int64_t>& out) const {
  if (cache_->find(word, out)) return;
  struct Symbol {
    int64_t id;
    int64_t prev, next;  // -1 at the ends
  };
  std::vector<Symbol> sym(word.size());
  for (size_t i = 0; i < word.size(); ++i)
    sym[i] = {byte_ids_[static_cast<unsigned char>(word[i])], static_cast<int64_t>(i) - 1,
              i + 1 < word.size() ? static_cast<int64_t>(i + 1) : -1};
  struct Candidate {
    int32_t rank;
    int64_t pos, left, right;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int64_t pos) {
    if (pos < 0 || sym[static_cast<size_t>(pos)].next < 0) return;
    int64_t l = sym[static_cast<size_t>(pos)].id,
            r = sym[static_cast<size_t>(sym[static_cast<size_t>(pos)].next)].id;
    auto it = ranks_.find(pair_key(l, r));
    if (it != ranks_.end()) heap.push({it->second.first, pos, l, r});
  };
  for (size_t i = 0; i + 1 < word.size(); ++i) consider(static_cast<int64_t>(i));
  // Lowest rank first, leftmost first among equals: what GPT-2's loop of "merge every
  // occurrence of the best pair" gives for merges learnt in order.
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    Symbol& s = sym[static_cast<size_t>(c.pos)];
    if (s.id != c.left || s.next < 0 || sym[static_cast<size_t>(s.next)].id != c.right)
      continue;  // stale: one side was merged since
    Symbol& t = sym[static_cast<size_t>(s.next)];
    s.id = ranks_.at(pair_key(c.left, c.right)).second;
    t.id = -1;
    s.next = t.next;
    if (s.next >= 0) sym[static_cast<size_t>(s.next)].prev = c.pos;
    consider(s.prev);
    consider(c.pos);
  }
  const size_t first = out.size();
  for (int64_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next)
    out.push_back(sym[static_cast<size_t>(i)].id);
  cache_->insert(word, out.data() + first, out.size() - first);
}

void ByteLevelBPETokenizer::encode_segment(const std::string& text,
                                           std::vector<int64_t>& out) const {
  gpt2_pretokenize(
      text, [&](size_t begin, size_t end) { encode_word(text.substr(begin, end - begin), out); });
}

std::vector<int64_t> ByteLevelBPETokenizer::encode(const std::string& text,
                                                   bool add_special_tokens) const {
  const bool prefix = add_prefix_space_ && !text.empty() && text[0] != ' ';
  std::vector<int64_t> ids = encode_text(prefix ? " " + text : text);
  return add_special_tokens ? apply_template(ids, nullptr, nullptr) : ids;
}

std::string ByteLevelBPETokenizer::decode(const std::vector<int64_t>& ids,
                                          bool skip_special_tokens) const {
  std::string out;
  for (int64_t id : ids) {
    EMBER_CHECK_INDEX(id >= 0 && id < vocab_size(), "decode: id ", id,
                      " out of range for a vocabulary of ", vocab_size(), " tokens");
    if (skip_special_tokens && is_special_id(id)) continue;
    // Tokens added after construction are their own text.
    out += static_cast<size_t>(id) < bytes_of_.size() ? bytes_of_[static_cast<size_t>(id)]
                                                      : vocab_tokens()[static_cast<size_t>(id)];
  }
  return out;
}

std::vector<std::string> ByteLevelBPETokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> tokens;
  for (int64_t id : encode(text, false)) tokens.push_back(id_to_token(id));
  return tokens;
}

}  // namespace ember::text
