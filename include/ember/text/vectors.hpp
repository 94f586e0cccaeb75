// Pretrained word vectors: word2vec text ("V D" header), GloVe text (no header) and word2vec
// binary, and their alignment to a Vocab for Embedding::from_pretrained.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ember/tensor.hpp"
#include "ember/text/vocab.hpp"

namespace ember::text {

enum class VectorFormat { Auto, Word2VecText, GloVe, Word2VecBinary };

struct WordVectors {
  std::vector<std::string> words;
  Tensor vectors;  // [words.size(), dim]
  std::unordered_map<std::string, int64_t> index;
  int64_t dim() const { return vectors.size(1); }
};

// Auto tells the formats apart by the header line ("V D" or not) and, after a header, by
// whether the data is text. Errors name the file and line (or byte offset for binary).
WordVectors load_word_vectors(const std::string& path, VectorFormat format = VectorFormat::Auto);

struct AlignedVectors {
  Tensor weights;  // [vocab.size(), dim]: found rows copied, missing rows N(0, 1), pad row zero
  int64_t found = 0, missing = 0;
  std::string report() const;  // "found 812 of 1000 vocabulary words (81.2%)"
};

// pad_index < 0: no pad row. Specials other than the pad row count as missing.
AlignedVectors align_to_vocab(const WordVectors& vectors, const Vocab& vocab,
                              int64_t pad_index = 1);

}  // namespace ember::text
