// Hashed word and character n-grams.
#include "ember/text/ngrams.hpp"

#include "ember/error.hpp"
#include "ember/text/tokenizer.hpp"

namespace ember::text {

uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<uint32_t>(static_cast<unsigned char>(c));
    h *= 16777619u;
  }
  return h;
}

void append_ngram_ids(const std::vector<std::string>& tokens, const NgramOptions& o, int64_t offset,
                      std::vector<int64_t>& ids) {
  EMBER_CHECK_VALUE(o.word_ngrams >= 1 && o.minn >= 0 && o.maxn >= 0 && o.buckets >= 0,
                    "n-grams: word_ngrams must be >= 1 and minn, maxn, buckets >= 0, got ",
                    o.word_ngrams, ", ", o.minn, ", ", o.maxn, ", ", o.buckets);
  const bool chars = o.maxn > 0;
  if ((!chars && o.word_ngrams == 1) || o.buckets == 0) return;
  EMBER_CHECK_VALUE(!chars || (o.minn >= 1 && o.minn <= o.maxn),
                    "n-grams: need 1 <= minn <= maxn, got minn ", o.minn, ", maxn ", o.maxn);
  const auto bucket = [&](uint64_t h) {
    return offset + static_cast<int64_t>(h % static_cast<uint64_t>(o.buckets));
  };
  if (chars) {
    for (const std::string& token : tokens) {
      std::vector<std::string> cps = split_code_points("<" + token + ">");
      const size_t n = cps.size();
      for (size_t i = 0; i < n; ++i) {
        std::string gram;
        for (size_t len = 1; len <= static_cast<size_t>(o.maxn) && i + len <= n; ++len) {
          gram += cps[i + len - 1];
          bool bare_bracket = len == 1 && (i == 0 || i + 1 == n);
          if (len >= static_cast<size_t>(o.minn) && !bare_bracket)
            ids.push_back(bucket(fnv1a(gram)));
        }
      }
    }
  }
  if (o.word_ngrams > 1) {
    std::vector<uint64_t> hashes;
    for (const std::string& t : tokens) hashes.push_back(fnv1a(t));
    for (size_t i = 0; i < hashes.size(); ++i) {
      uint64_t h = hashes[i];
      for (size_t j = i + 1; j < hashes.size() && j < i + static_cast<size_t>(o.word_ngrams); ++j) {
        h = h * 116049371u + hashes[j];
        ids.push_back(bucket(h));
      }
    }
  }
}

}  // namespace ember::text
