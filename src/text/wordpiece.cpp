// WordPiece: BERT's basic tokenizer per whitespace-free chunk (cached), then greedy
// longest-match-first pieces against the vocabulary.
#include "ember/text/wordpiece.hpp"

#include <algorithm>

#include "bert_basic.hpp"
#include "ember/error.hpp"
#include "ember/text/lines.hpp"
#include "word_cache.hpp"

namespace ember::text {

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options)
    : options_(std::move(options)), cache_(std::make_shared<WordCache>()) {
  EMBER_CHECK_VALUE(options_.max_input_chars_per_word > 0,
                    "WordPieceTokenizer: max_input_chars_per_word must be positive, got ",
                    options_.max_input_chars_per_word);
  set_vocab(std::move(vocab), "WordPieceTokenizer");
  unk_id_ = token_to_id(options_.unk_token);
  SpecialTokens roles;
  auto role = [&](const char* token) -> std::optional<std::string> {
    if (vocab_index().count(token)) return std::string(token);
    return std::nullopt;
  };
  roles.pad = role("[PAD]");
  roles.unk = options_.unk_token;
  roles.cls = role("[CLS]");
  roles.sep = role("[SEP]");
  roles.mask = role("[MASK]");
  set_special_tokens(roles);
  if (roles.cls && roles.sep)
    set_post_processor(
        {{{"[CLS]", 0, 0}, {"", 0, 0}, {"[SEP]", 0, 0}},
         {{"[CLS]", 0, 0}, {"", 0, 0}, {"[SEP]", 0, 0}, {"", 1, 1}, {"[SEP]", 0, 1}}});
  else
    set_post_processor({{{"", 0, 0}}, {{"", 0, 0}, {"", 1, 1}}});
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, bool lower_case) {
  WordPieceOptions options;
  options.lower_case = lower_case;
  return from_vocab_file(path, options);
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path,
                                                       WordPieceOptions options) {
  LineReader reader(path, "WordPieceTokenizer");
  std::vector<std::string> tokens;
  std::string line;
  while (reader.next(line)) {
    // vocab.txt keeps a token's spaces except the line end (Python's rstrip("\n")).
    EMBER_CHECK_IO(!line.empty(), reader.where(), ": empty token in vocab.txt");
    tokens.push_back(line);
  }
  EMBER_CHECK_IO(!tokens.empty(), path, ": vocab.txt has no tokens");
  EMBER_CHECK_IO(std::find(tokens.begin(), tokens.end(), options.unk_token) != tokens.end(), path,
                 ": the unknown token '", options.unk_token, "' is not in the vocabulary");
  return WordPieceTokenizer(std::move(tokens), std::move(options));
}

void WordPieceTokenizer::word_piece(const std::string& word, std::vector<int64_t>& out) const {
  // Code point boundaries: the limit and the pieces count characters, not bytes.
  std::vector<size_t> bounds{0};
  for (size_t i = 0; i < word.size();) {
    detail::next_code_point(word, i, "WordPieceTokenizer");
    bounds.push_back(i);
  }
  const size_t chars = bounds.size() - 1;
  if (static_cast<int64_t>(chars) > options_.max_input_chars_per_word) {
    out.push_back(unk_id_);
    return;
  }
  const size_t first = out.size();
  std::string piece;
  for (size_t start = 0; start < chars;) {
    size_t end = chars;
    int64_t found = -1;
    for (; end > start; --end) {
      piece.clear();
      if (start > 0) piece = options_.continuing_subword_prefix;
      piece.append(word, bounds[start], bounds[end] - bounds[start]);
      auto it = vocab_index().find(piece);
      if (it != vocab_index().end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // one piece missing makes the whole word unknown
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::encode_chunk(const std::string& chunk, std::vector<int64_t>& out) const {
  if (cache_->find(chunk, out)) return;
  const size_t first = out.size();
  std::vector<std::string> words;
  detail::basic_tokenize_chunk(chunk, options_, words);
  for (const std::string& w : words) word_piece(w, out);
  cache_->insert(chunk, out.data() + first, out.size() - first);
}

void WordPieceTokenizer::encode_segment(const std::string& text, std::vector<int64_t>& out) const {
  detail::for_each_chunk(text, options_.clean_text, "WordPieceTokenizer",
                         [&](const std::string& chunk) { encode_chunk(chunk, out); });
}

std::vector<int64_t> WordPieceTokenizer::encode(const std::string& text,
                                                bool add_special_tokens) const {
  std::vector<int64_t> ids = encode_text(text);
  return add_special_tokens ? apply_template(ids, nullptr, nullptr) : ids;
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(const std::string& text) const {
  std::vector<std::string> words;
  detail::for_each_chunk(
      text, options_.clean_text, "WordPieceTokenizer",
      [&](const std::string& chunk) { detail::basic_tokenize_chunk(chunk, options_, words); });
  return words;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> pieces;
  for (int64_t id : encode(text, false)) pieces.push_back(id_to_token(id));
  return pieces;
}

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

}  // namespace

std::string WordPieceTokenizer::decode(const std::vector<int64_t>& ids,
                                       bool skip_special_tokens) const {
  std::string text;
  const std::string& prefix = options_.continuing_subword_prefix;
  for (int64_t id : ids) {
    if (skip_special_tokens && is_special_id(id)) continue;
    std::string token = id_to_token(id);
    if (!text.empty() && token.compare(0, prefix.size(), prefix) == 0 && !is_special_id(id))
      text.append(token, prefix.size(), std::string::npos);
    else
      text += (text.empty() ? "" : " ") + token;
  }
  // Hugging Face's clean_up_tokenization: no space before punctuation and English clitics.
  for (const char* p : {" .", " ?", " !", " ,"}) replace_all(text, p, std::string(p + 1));
  replace_all(text, " ' ", "'");
  for (const char* c : {" n't", " 'm", " 's", " 've", " 're"}) replace_all(text, c, c + 1);
  return text;
}

}  // namespace ember::text
