// fastText's features for bag-of-words models: word n-grams and character n-grams, hashed
// into a fixed number of buckets with a hash fixed here (FNV-1a, 32 bits, over UTF-8 bytes),
// so a model's bucket ids are the same on every run and platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ember::text {

// FNV-1a over the bytes (unsigned, unlike fastText's sign-extending loop).
uint32_t fnv1a(const std::string& s);

struct NgramOptions {
  int64_t word_ngrams = 1;  // 2: word bigrams too; 1: none
  int64_t minn = 0;         // character n-grams of minn..maxn code points; maxn 0: none
  int64_t maxn = 0;
  int64_t buckets = 0;  // the n-grams of both kinds share these rows
};

// Appends to `ids`, each as offset + bucket:
// - for every token, its character n-grams of minn..maxn code points, taken from "<token>"
//   (the angle brackets mark the word's ends, as in fastText; the bare brackets are skipped);
// - for n = 2..word_ngrams, every run of n consecutive tokens, hashed from the tokens' hashes
//   (h = h * 116049371 + fnv1a(token), fastText's combination).
void append_ngram_ids(const std::vector<std::string>& tokens, const NgramOptions& options,
                      int64_t offset, std::vector<int64_t>& ids);

}  // namespace ember::text
