// UTF-8 decoding, whitespace and punctuation classes, and the tokenizer built on them.
#include "ember/text/tokenizer.hpp"

#include "ember/error.hpp"

namespace ember::text {

namespace {

// Decodes the code point at s[i]; returns its length in bytes, or 0 if malformed (overlong
// forms, surrogates and values past U+10FFFF included).
size_t decode(const std::string& s, size_t i, char32_t& cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  if (len == 1) {
    cp = c;
    return 1;
  }
  cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static const char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000 || c == 0xFEFF;
}

bool is_punct(char32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  return c == 0xA1 || c == 0xAB || c == 0xBB || c == 0xBF ||  // ¡ « » ¿
         (c >= 0x2010 && c <= 0x2027) ||                      // dashes, quotes, …
         (c >= 0x2030 && c <= 0x205E) ||                      // ‰ ‹ › ※ …
         (c >= 0x3001 && c <= 0x3003) ||                      // 、 。 〃
         (c >= 0x3008 && c <= 0x3011) ||  // 〈 〉 《 》 「 」 『 』 【 】
         (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||  // fullwidth
         (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65);
}

}  // namespace

bool is_valid_utf8(const std::string& s, size_t* bad_byte) {
  char32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t len = decode(s, i, cp);
    if (len == 0) {
      if (bad_byte) *bad_byte = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::vector<std::string> tokenize(const std::string& sentence, const TokenizerOptions& options) {
  std::vector<std::string> tokens;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) tokens.push_back(std::move(current));
    current.clear();
  };
  for (size_t i = 0; i < sentence.size();) {
    char32_t cp = 0;
    size_t len = decode(sentence, i, cp);
    EMBER_CHECK_VALUE(len > 0, "tokenize: invalid UTF-8 at byte ", i);
    if (is_space(cp)) {
      flush();
    } else if (is_punct(cp)) {
      flush();
      tokens.push_back(sentence.substr(i, len));
    } else if (options.lower && cp >= 'A' && cp <= 'Z') {
      current += static_cast<char>(cp - 'A' + 'a');
    } else {
      current.append(sentence, i, len);
    }
    i += len;
  }
  flush();
  return tokens;
}

}  // namespace ember::text
