// Byte-level BPE training: words counted once, pair counts kept up to date as merges rewrite
// only the words that hold the pair, and a heap (stale entries skipped) to find the most
// frequent pair.
#include <algorithm>
#include <queue>
#include <unordered_set>

#include "ember/error.hpp"
#include "ember/text/bpe.hpp"

namespace ember::text {

namespace {

uint64_t key_of(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Candidate {
  int64_t count;
  std::string left, right;  // raw bytes, for the tie-break
  uint64_t key;
};
// The heap's top is the most frequent pair, then the one whose (left, right) sorts first.
struct Later {
  bool operator()(const Candidate& x, const Candidate& y) const {
    if (x.count != y.count) return x.count < y.count;
    return std::tie(x.left, x.right) > std::tie(y.left, y.right);
  }
};

// Words of the corpus (special tokens cut out first) with their counts, sorted.
std::vector<std::pair<std::string, int64_t>> count_words(const std::vector<std::string>& texts,
                                                         const std::vector<std::string>& specials) {
  std::unordered_map<std::string, int64_t> counts;
  auto count_segment = [&](const std::string& text) {
    gpt2_pretokenize(text, [&](size_t b, size_t e) { ++counts[text.substr(b, e - b)]; });
  };
  for (const std::string& text : texts) {
    size_t start = 0;
    for (size_t i = 0; i < text.size(); ++i)
      for (const std::string& s : specials)
        if (!s.empty() && text.compare(i, s.size(), s) == 0) {
          count_segment(text.substr(start, i - start));
          start = i + s.size();
          i = start - 1;
          break;
        }
    count_segment(text.substr(start));
  }
  std::vector<std::pair<std::string, int64_t>> words(counts.begin(), counts.end());
  std::sort(words.begin(), words.end());
  return words;
}

}  // namespace

ByteLevelBPETokenizer ByteLevelBPETokenizer::train(const std::vector<std::string>& texts,
                                                   int64_t vocab_size,
                                                   std::vector<std::string> special_tokens) {
  const int64_t floor = 256 + static_cast<int64_t>(special_tokens.size());
  EMBER_CHECK_VALUE(vocab_size >= floor, "ByteLevelBPETokenizer::train: vocab_size ", vocab_size,
                    " is below the 256 bytes plus ", special_tokens.size(), " special tokens");
  // Symbols 0..255 are the bytes in GPT-2's vocabulary order: printable bytes first.
  std::vector<std::string> bytes_of;
  for (int pass = 0; pass < 2; ++pass)
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      if (printable == (pass == 0)) bytes_of.emplace_back(1, static_cast<char>(b));
    }
  std::unordered_map<std::string, int32_t> id_of;
  for (size_t i = 0; i < bytes_of.size(); ++i) id_of[bytes_of[i]] = static_cast<int32_t>(i);

  auto counted = count_words(texts, special_tokens);
  std::vector<std::vector<int32_t>> words(counted.size());
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // may list a word twice or stale
  for (size_t w = 0; w < counted.size(); ++w) {
    for (char c : counted[w].first) words[w].push_back(id_of[std::string(1, c)]);
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      uint64_t k = key_of(words[w][i], words[w][i + 1]);
      pair_count[k] += counted[w].second;
      where[k].push_back(static_cast<int32_t>(w));
    }
  }
  std::priority_queue<Candidate, std::vector<Candidate>, Later> heap;
  auto push = [&](uint64_t k) {
    auto it = pair_count.find(k);
    if (it == pair_count.end() || it->second <= 0) return;
    heap.push({it->second, bytes_of[k >> 32], bytes_of[k & 0xFFFFFFFFu], k});
  };
  for (const auto& [k, c] : pair_count) push(k);

  std::vector<std::pair<std::string, std::string>> merges;
  const auto target = static_cast<size_t>(vocab_size) - special_tokens.size();
  while (bytes_of.size() < target && !heap.empty()) {
    Candidate best = heap.top();
    heap.pop();
    auto live = pair_count.find(best.key);
    if (live == pair_count.end() || live->second != best.count) continue;  // stale
    const auto a = static_cast<int32_t>(best.key >> 32),
               b = static_cast<int32_t>(best.key & 0xFFFFFFFFu);
    std::string joined = best.left + best.right;
    auto [slot, added] = id_of.emplace(joined, static_cast<int32_t>(bytes_of.size()));
    if (added) bytes_of.push_back(joined);  // else two merges spell the same token
    const int32_t m = slot->second;
    merges.emplace_back(best.left, best.right);

    std::unordered_set<uint64_t> changed;
    std::vector<int32_t> holders = std::move(where[best.key]);
    where.erase(best.key);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    for (int32_t w : holders) {
      std::vector<int32_t>& s = words[static_cast<size_t>(w)];
      const int64_t f = counted[static_cast<size_t>(w)].second;
      std::vector<int32_t> merged;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          merged.push_back(m);
          ++i;
        } else {
          merged.push_back(s[i]);
        }
      }
      if (merged.size() == s.size()) continue;  // a stale entry
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t k = key_of(s[i], s[i + 1]);
        if ((pair_count[k] -= f) <= 0) pair_count.erase(k);
        changed.insert(k);
      }
      for (size_t i = 0; i + 1 < merged.size(); ++i) {
        uint64_t k = key_of(merged[i], merged[i + 1]);
        pair_count[k] += f;
        where[k].push_back(w);
        changed.insert(k);
      }
      s.swap(merged);
    }
    for (uint64_t k : changed) push(k);
  }

  std::vector<std::string> vocab;
  for (const std::string& raw : bytes_of) {
    std::string spelled;
    for (char c : raw) spelled += byte_to_unicode(static_cast<unsigned char>(c));
    vocab.push_back(std::move(spelled));
  }
  auto spell = [](const std::string& raw) {
    std::string out;
    for (char c : raw) out += byte_to_unicode(static_cast<unsigned char>(c));
    return out;
  };
  std::vector<std::pair<std::string, std::string>> spelled_merges;
  for (const auto& [l, r] : merges) spelled_merges.emplace_back(spell(l), spell(r));
  for (const std::string& s : special_tokens) vocab.push_back(s);
  ByteLevelBPETokenizer tokenizer(std::move(vocab), std::move(spelled_merges), false,
                                  "ByteLevelBPETokenizer::train");
  for (const std::string& s : special_tokens) tokenizer.add_token(s, true);
  return tokenizer;
}

}  // namespace ember::text
