// The pretrained-model tokenizers' common base: ids for a text, special tokens, pairs with
// token type ids, truncation and padding to a batch. WordPieceTokenizer (BERT) and
// ByteLevelBPETokenizer (GPT-2) implement it; load_tokenizer_json reads either kind.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ember/index_tensor.hpp"

namespace ember::text {

// One sequence (or pair) ready for a model: [T] each.
struct Encoding {
  std::vector<int64_t> ids, token_type_ids, attention_mask;
};

// A padded batch: [B, T] each; attention_mask is 1 on tokens, 0 on padding.
struct BatchEncoding {
  IndexTensor input_ids, token_type_ids, attention_mask;
};

// The roles of special tokens, by their text (as Hugging Face's special_tokens_map.json).
struct SpecialTokens {
  std::optional<std::string> pad, bos, eos, unk, cls, sep, mask;
};

// What encode adds around one sequence (A) or a pair (A, B): special tokens and the token
// type id of each piece, as Hugging Face's TemplateProcessing ("[CLS] $A [SEP] $B:1 [SEP]:1").
struct TemplatePiece {
  std::string special;  // the special token's text; empty for a sequence
  int sequence = 0;     // 0 for A, 1 for B (when `special` is empty)
  int64_t type_id = 0;
};
struct PostProcessor {
  std::vector<TemplatePiece> single, pair;
};

class Tokenizer {
 public:
  virtual ~Tokenizer();

  // Ids of `text`; with add_special_tokens the post-processor's template is applied
  // ([CLS] ... [SEP] for BERT; nothing for GPT-2). Special tokens written in the text are
  // recognised as themselves. Throws ValueError on invalid UTF-8.
  virtual std::vector<int64_t> encode(const std::string& text,
                                      bool add_special_tokens = true) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids,
                             bool skip_special_tokens = false) const = 0;
  virtual int64_t vocab_size() const = 0;
  // Throws IndexError for a token (or id) the vocabulary does not have.
  virtual int64_t token_to_id(const std::string& token) const;
  virtual std::string id_to_token(int64_t id) const;

  // The ids of the special tokens this tokenizer defines (nullopt when it has none).
  std::optional<int64_t> pad_token_id() const { return role_id(special_tokens_.pad); }
  std::optional<int64_t> bos_token_id() const { return role_id(special_tokens_.bos); }
  std::optional<int64_t> eos_token_id() const { return role_id(special_tokens_.eos); }
  std::optional<int64_t> unk_token_id() const { return role_id(special_tokens_.unk); }
  std::optional<int64_t> cls_token_id() const { return role_id(special_tokens_.cls); }
  std::optional<int64_t> sep_token_id() const { return role_id(special_tokens_.sep); }
  std::optional<int64_t> mask_token_id() const { return role_id(special_tokens_.mask); }
  const SpecialTokens& special_tokens() const { return special_tokens_; }
  // Sets the roles; each token must be in the vocabulary and becomes an added token
  // (matched whole in the text, skipped by decode(ids, true)).
  void set_special_tokens(const SpecialTokens& tokens);
  // Tokens matched whole in the text before the model splits it (Hugging Face's
  // added_tokens). `special` ones are skipped by decode(ids, skip_special_tokens=true).
  void add_token(const std::string& token, bool special);
  bool is_special_id(int64_t id) const;

  const PostProcessor& post_processor() const { return post_processor_; }
  void set_post_processor(PostProcessor processor);
  // How many special tokens encode adds to one sequence (pair = true: to a pair).
  int64_t num_special_tokens_to_add(bool pair = false) const;

  // The pair template's ids ([CLS] a [SEP] b [SEP] for BERT) with its token type ids. With
  // max_length > 0 the longer of a and b loses its last token until the whole fits
  // (longest-first, as Hugging Face's truncation).
  Encoding encode_pair(const std::string& a, const std::string& b, int64_t max_length = -1) const;
  // Each text encoded with special tokens, cut to max_length (> 0) and padded to the longest
  // with the pad id (the eos id when there is no pad token, as GPT-2 is used; else 0), on the
  // left when pad_left (generation). attention_mask is 1 on tokens, 0 on padding.
  BatchEncoding encode_batch(const std::vector<std::string>& texts, int64_t max_length = -1,
                             bool pad_left = false) const;

 protected:
  // The model's ids for a text containing no added token, appended to `out`.
  virtual void encode_segment(const std::string& text, std::vector<int64_t>& out) const = 0;
  // Added tokens split out, each segment between them given to encode_segment.
  std::vector<int64_t> encode_text(const std::string& text) const;
  // The template applied to a (and b); fills the type ids when asked.
  std::vector<int64_t> apply_template(const std::vector<int64_t>& a, const std::vector<int64_t>* b,
                                      std::vector<int64_t>* type_ids) const;
  // The vocabulary (added tokens included), kept here so the lookups are shared.
  void set_vocab(std::vector<std::string> tokens, const std::string& who);
  const std::vector<std::string>& vocab_tokens() const { return tokens_; }
  const std::unordered_map<std::string, int64_t>& vocab_index() const { return index_; }

 private:
  std::optional<int64_t> role_id(const std::optional<std::string>& token) const;

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> index_;
  std::vector<std::string> added_;  // longest first, so a longer token wins a tie
  std::vector<bool> special_;       // by id
  std::vector<bool> starts_added_;  // by first byte, to skip most positions fast
  SpecialTokens special_tokens_;
  PostProcessor post_processor_;
};

// A tokenizer from a Hugging Face tokenizer.json: model.type "WordPiece" or "BPE" (byte-level),
// added_tokens, and the normalizer / pre_tokenizer / post_processor / decoder kinds that BERT,
// GPT-2 and RoBERTa use. Anything else throws ValueError naming the field and its value.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path);

}  // namespace ember::text
