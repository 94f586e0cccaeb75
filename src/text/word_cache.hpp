// The subword tokenizers' cache of words already split (private): text is Zipfian, so most
// words repeat and a lookup replaces the Unicode work and the merges or the longest-match
// search. Shared by copies of a tokenizer (their vocabulary is the same) and safe to use from
// several threads at once.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ember::text {

struct WordCache {
  // Appends the word's ids to `out` and returns true when the word is cached.
  bool find(const std::string& word, std::vector<int64_t>& out) const {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = words.find(word);
    if (it == words.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void insert(const std::string& word, const int64_t* ids, size_t n) {
    std::lock_guard<std::mutex> lock(mutex);
    // Bounded so that a stream of unique words (hashes, numbers) cannot grow it without end.
    if (words.size() >= kMaxWords) words.clear();
    words.emplace(word, std::vector<int64_t>(ids, ids + n));
  }

  static constexpr size_t kMaxWords = 1 << 19;
  mutable std::mutex mutex;
  std::unordered_map<std::string, std::vector<int64_t>> words;
};

}  // namespace ember::text
