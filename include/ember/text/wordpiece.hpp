// BERT's tokenizer: the BasicTokenizer (clean text, split CJK characters, lower-case, strip
// accents, split punctuation and whitespace) then greedy longest-match-first WordPiece with
// "##" continuations, from BERT's vocab.txt. Ids equal Hugging Face's BertTokenizer's.
#pragma once

#include <memory>

#include "ember/text/subword_tokenizer.hpp"

namespace ember::text {

struct WordCache;

struct WordPieceOptions {
  bool lower_case = true;
  // nullopt: strip accents when lower-casing (BERT's default).
  std::optional<bool> strip_accents;
  bool tokenize_chinese_chars = true;
  bool clean_text = true;  // drop control characters, NUL and U+FFFD
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  int64_t max_input_chars_per_word = 100;  // longer words are one unk token
};

class WordPieceTokenizer : public Tokenizer {
 public:
  // `vocab`: the tokens by id. Special tokens found among them ([PAD] [UNK] [CLS] [SEP]
  // [MASK]) get their roles; the post-processor is BERT's [CLS] A [SEP] (B:1 [SEP]:1).
  explicit WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {});
  // BERT's vocab.txt: one token per line, the id is the line number from 0. Throws IoError
  // naming the file (and line for invalid UTF-8 or an empty line).
  static WordPieceTokenizer from_vocab_file(const std::string& path, bool lower_case = true);
  static WordPieceTokenizer from_vocab_file(const std::string& path, WordPieceOptions options);

  std::vector<int64_t> encode(const std::string& text,
                              bool add_special_tokens = true) const override;
  // Tokens joined by spaces, "##" pieces glued to the one before, and Hugging Face's clean-up
  // of spaces before punctuation ("a ." -> "a.", "do n't" -> "don't").
  std::string decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = false) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_tokens().size()); }

  // The word pieces as text (no special tokens added), e.g. "unaffable" -> un ##aff ##able.
  std::vector<std::string> tokenize(const std::string& text) const;
  // BERT's BasicTokenizer alone: the words WordPiece then splits.
  std::vector<std::string> basic_tokenize(const std::string& text) const;
  const WordPieceOptions& options() const { return options_; }

 protected:
  void encode_segment(const std::string& text, std::vector<int64_t>& out) const override;

 private:
  void encode_chunk(const std::string& chunk, std::vector<int64_t>& out) const;
  void word_piece(const std::string& word, std::vector<int64_t>& out) const;

  WordPieceOptions options_;
  int64_t unk_id_ = -1;
  std::shared_ptr<WordCache> cache_;
};

}  // namespace ember::text
