// Tokenisation on utf8proc's Unicode tables: normalisation, case folding, categories and
// grapheme clusters. The only UTF-8 decoding here is utf8proc's.
#include "ember/text/tokenizer.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "ember/error.hpp"

namespace ember::text {

namespace {

const utf8proc_uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const utf8proc_uint8_t*>(s.data());
}

bool is_ascii(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

bool is_space(utf8proc_int32_t c) {
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
      return true;
    default:
      return c == 0x200B || c == 0xFEFF;  // zero-width space and BOM separate words too
  }
}

bool is_punct_or_symbol(utf8proc_int32_t c) {
  utf8proc_category_t cat = utf8proc_category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_SO;
}

// Scripts written without spaces between words: each grapheme cluster is a token.
bool is_unspaced_script(utf8proc_int32_t c) {
  return (c >= 0x0E00 && c <= 0x0EFF) ||  // Thai, Lao
         (c >= 0x1000 && c <= 0x109F) ||  // Myanmar
         (c >= 0x1780 && c <= 0x17FF) ||  // Khmer
         (c >= 0x2E80 && c <= 0x2FDF) ||  // CJK radicals, Kangxi radicals
         (c >= 0x3005 && c <= 0x3007) ||  // 々 〆 〇
         (c >= 0x3040 && c <= 0x30FF) ||  // Hiragana, Katakana
         (c >= 0x31F0 && c <= 0x31FF) ||  // Katakana phonetic extensions
         (c >= 0x3400 && c <= 0x4DBF) ||  // CJK extension A
         (c >= 0x4E00 && c <= 0x9FFF) ||  // CJK unified ideographs
         (c >= 0xF900 && c <= 0xFAFF) ||  // CJK compatibility ideographs
         (c >= 0x20000 && c <= 0x3134F);  // CJK extensions B-G
}

struct Cluster {
  size_t begin, end;
  utf8proc_int32_t first;  // its first code point
};

// Grapheme clusters (or single code points) of valid UTF-8.
std::vector<Cluster> clusters(const std::string& s, bool graphemes) {
  std::vector<Cluster> out;
  utf8proc_int32_t prev = -1, cp = 0, state = 0;
  for (size_t i = 0; i < s.size();) {
    auto len = utf8proc_iterate(bytes(s) + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    EMBER_CHECK_VALUE(len > 0, "tokenize: invalid UTF-8 at byte ", i);
    bool breaks = prev < 0 || !graphemes || utf8proc_grapheme_break_stateful(prev, cp, &state);
    if (breaks)
      out.push_back({i, i + static_cast<size_t>(len), cp});
    else
      out.back().end = i + static_cast<size_t>(len);
    prev = cp;
    i += static_cast<size_t>(len);
  }
  return out;
}

}  // namespace

bool is_valid_utf8(const std::string& s, size_t* bad_byte) {
  utf8proc_int32_t cp;
  for (size_t i = 0; i < s.size();) {
    auto len = utf8proc_iterate(bytes(s) + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (len <= 0) {
      if (bad_byte) *bad_byte = i;
      return false;
    }
    i += static_cast<size_t>(len);
  }
  return true;
}

std::string normalize(const std::string& text, bool lower) {
  if (is_ascii(text)) {  // NFKC leaves ASCII alone; folding it is tolower
    std::string out = text;
    if (lower)
      for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  }
  size_t bad = 0;
  EMBER_CHECK_VALUE(is_valid_utf8(text, &bad), "tokenize: invalid UTF-8 at byte ", bad);
  utf8proc_uint8_t* mapped = nullptr;
  const int flags =
      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | (lower ? UTF8PROC_CASEFOLD : 0);
  auto len = utf8proc_map(bytes(text), static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                          static_cast<utf8proc_option_t>(flags));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(mapped, &std::free);
  EMBER_CHECK_VALUE(len >= 0, "tokenize: utf8proc: ", utf8proc_errmsg(len));
  return std::string(reinterpret_cast<const char*>(mapped), static_cast<size_t>(len));
}

std::vector<std::string> tokenize(const std::string& sentence, const TokenizerOptions& options) {
  if (options.unit == TokenUnit::RawCodePoint) {
    EMBER_CHECK_VALUE(!options.lower, "tokenize: TokenUnit::RawCodePoint keeps the text exactly, ",
                      "so lower (case folding) cannot apply; use TokenUnit::CodePoint with lower");
    return split_code_points(sentence);
  }
  const std::string s = normalize(sentence, options.lower);
  std::vector<std::string> tokens;
  if (options.unit != TokenUnit::Word) {
    for (const Cluster& c : clusters(s, options.unit == TokenUnit::Grapheme))
      tokens.push_back(is_space(c.first) ? " " : s.substr(c.begin, c.end - c.begin));
    return tokens;
  }
  std::string current;
  auto flush = [&] {
    if (!current.empty()) tokens.push_back(std::move(current));
    current.clear();
  };
  for (const Cluster& c : clusters(s, true)) {
    if (is_space(c.first)) {
      flush();
    } else if (is_punct_or_symbol(c.first) || is_unspaced_script(c.first)) {
      flush();
      tokens.push_back(s.substr(c.begin, c.end - c.begin));
    } else {
      current.append(s, c.begin, c.end - c.begin);
    }
  }
  flush();
  return tokens;
}

std::vector<std::string> split_code_points(const std::string& s) {
  std::vector<std::string> out;
  for (const Cluster& c : clusters(s, false)) out.push_back(s.substr(c.begin, c.end - c.begin));
  return out;
}

}  // namespace ember::text
