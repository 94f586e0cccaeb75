// GPT-2's byte-level BPE: text split by GPT-2's pre-tokenisation pattern, each piece's UTF-8
// bytes spelled with GPT-2's byte-to-unicode map, then merged by rank (merges.txt). Every
// byte has a token, so decode(encode(s)) == s for any UTF-8 string. Trainable on a corpus.
#pragma once

#include <functional>
#include <memory>

#include "ember/text/subword_tokenizer.hpp"

namespace ember::text {

struct WordCache;

class ByteLevelBPETokenizer : public Tokenizer {
 public:
  // `vocab`: tokens by id in the byte-to-unicode spelling ("Ġthe"); `merges`: pairs by rank.
  // Every single byte and every merge's result must be in the vocabulary. "<|endoftext|>",
  // when present, is bos, eos and unk as in GPT-2. `who` names the source in errors.
  ByteLevelBPETokenizer(std::vector<std::string> vocab,
                        std::vector<std::pair<std::string, std::string>> merges,
                        bool add_prefix_space = false, const std::string& who = "BPE");
  // GPT-2's vocab.json ({"token": id}, ids 0..N-1) and merges.txt ("#version" line optional,
  // then "left right" per line). Throws IoError naming the file and line.
  static ByteLevelBPETokenizer from_files(const std::string& vocab_json,
                                          const std::string& merges_txt);
  // Byte-level BPE learnt from `texts`: GPT-2's pre-tokenisation, the 256 bytes, then the most
  // frequent adjacent pair merged until the vocabulary (special tokens included, placed
  // last as GPT-2's <|endoftext|>) has vocab_size tokens or no pair is left. Ties go to the
  // pair whose (left, right) byte strings sort first, so training is deterministic.
  static ByteLevelBPETokenizer train(const std::vector<std::string>& texts, int64_t vocab_size,
                                     std::vector<std::string> special_tokens = {"<|endoftext|>"});
  // Writes dir/vocab.json and dir/merges.txt as GPT-2's tooling reads them.
  void save(const std::string& dir) const;

  std::vector<int64_t> encode(const std::string& text,
                              bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = false) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_tokens().size()); }

  // The tokens as spelled in vocab.json ("Hello world" -> Hello Ġworld).
  std::vector<std::string> tokenize(const std::string& text) const;
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }
  bool add_prefix_space() const { return add_prefix_space_; }

 protected:
  void encode_segment(const std::string& text, std::vector<int64_t>& out) const override;

 private:
  void encode_word(const std::string& word, std::vector<int64_t>& out) const;

  std::vector<std::pair<std::string, std::string>> merges_;
  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> ranks_;
  int64_t byte_ids_[256] = {};
  std::vector<std::string> bytes_of_;  // by id: the raw bytes a token stands for
  bool add_prefix_space_ = false;
  std::shared_ptr<WordCache> cache_;
};

// GPT-2's pre-tokenisation: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+
// |\s+(?!\S)|\s+ with \s the Unicode White_Space property. Calls f(begin, end) per piece.
void gpt2_pretokenize(const std::string& text,
                      const std::function<void(size_t begin, size_t end)>& f);
// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest for U+0100 on.
const std::string& byte_to_unicode(unsigned char byte);

}  // namespace ember::text
