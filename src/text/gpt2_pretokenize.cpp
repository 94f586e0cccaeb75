// GPT-2's pre-tokenisation pattern, matched by hand on utf8proc's categories (no regex
// library): the alternatives are tried in the pattern's order at each position, which is
// what a backtracking regex engine does with this pattern.
#include <utf8proc.h>

#include <array>

#include "ember/text/bpe.hpp"
#include "utf8.hpp"

namespace ember::text {

namespace {

enum Class : uint8_t { kLetter, kNumber, kSpace, kOther };

// Unicode's White_Space property, which \s means in GPT-2's pattern.
bool is_white_space(int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

Class classify(int32_t cp) {
  if (cp < 128) {
    if ((cp | 32) >= 'a' && (cp | 32) <= 'z') return kLetter;
    if (cp >= '0' && cp <= '9') return kNumber;
    return is_white_space(cp) ? kSpace : kOther;
  }
  if (is_white_space(cp)) return kSpace;
  auto c = utf8proc_category(cp);
  if (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) return kLetter;
  if (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) return kNumber;
  return kOther;
}

// Length in code points of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
size_t contraction(const std::vector<int32_t>& cps, size_t i) {
  if (cps[i] != '\'' || i + 1 >= cps.size()) return 0;
  int32_t a = cps[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= cps.size()) return 0;
  int32_t b = cps[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

}  // namespace

void gpt2_pretokenize(const std::string& text,
                      const std::function<void(size_t begin, size_t end)>& f) {
  std::vector<int32_t> cps;
  std::vector<size_t> offsets;
  std::vector<Class> cls;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    offsets.push_back(i);
    cps.push_back(detail::next_code_point(text, i, "ByteLevelBPETokenizer"));
    cls.push_back(classify(cps.back()));
  }
  offsets.push_back(text.size());
  const size_t n = cps.size();
  auto run = [&](size_t j, Class c) {
    while (j < n && cls[j] == c) ++j;
    return j;
  };
  for (size_t i = 0; i < n;) {
    size_t end;
    if (size_t len = contraction(cps, i)) {
      end = i + len;
    } else {
      // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional space, then a run of one class.
      size_t j = (cps[i] == ' ' && i + 1 < n && cls[i + 1] != kSpace) ? i + 1 : i;
      if (cls[j] != kSpace) {
        end = run(j, cls[j]);
      } else {
        // "\s+(?!\S)" leaves the last space of a run to the word after it; "\s+" takes a
        // single space before a word, or the run at the end of the text.
        size_t e = run(i, kSpace);
        end = (e < n && e - i >= 2) ? e - 1 : e;
      }
    }
    f(offsets[i], offsets[end]);
    i = end;
  }
}

const std::string& byte_to_unicode(unsigned char byte) {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      detail::append_utf8(t[static_cast<size_t>(b)], printable ? b : next++);
    }
    return t;
  }();
  return table[byte];
}

}  // namespace ember::text
