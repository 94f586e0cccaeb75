// BERT's BasicTokenizer on utf8proc's tables. Python's str.lower() is the reference for
// lower-casing (full mapping: "İ" -> "i̇", and the final-sigma rule), NFD + dropping Mn for
// accents.
#include "bert_basic.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

namespace ember::text::detail {

namespace {

utf8proc_category_t category(int32_t cp) { return utf8proc_category(cp); }

bool is_ascii_punctuation(int32_t cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
         (cp >= 123 && cp <= 126);
}

// BERT counts all non-alphanumeric ASCII as punctuation ("$", "^", "`"), and P* elsewhere.
bool is_punctuation(int32_t cp) {
  if (cp < 128) return is_ascii_punctuation(cp);
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

// Any C* category (control, format, surrogate, private use, unassigned), as _is_control.
bool is_control(int32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  if (cp < 128) return cp < 32 || cp == 127;
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_CN || c >= UTF8PROC_CATEGORY_CC;
}

// The CJK Unified Ideographs blocks of BERT's _is_chinese_char (not Hiragana, Katakana or
// Hangul, which are written with spaces or split by WordPiece).
bool is_cjk(int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_cased(int32_t cp) {
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

// Unicode's Case_Ignorable: marks, format characters, modifiers and the word-internal
// punctuation of Word_Break MidLetter / MidNumLet / Single_Quote.
bool is_case_ignorable(int32_t cp) {
  switch (cp) {
    case '\'':
    case '.':
    case ':':
    case '^':
    case '`':
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
      return true;
    default:
      break;
  }
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_ME || c == UTF8PROC_CATEGORY_CF ||
         c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_SK;
}

// Python's str.lower(): the simple mapping, plus İ's full mapping and Greek final sigma.
void lower(std::vector<int32_t>& cps) {
  std::vector<int32_t> out;
  out.reserve(cps.size() + 1);
  for (size_t i = 0; i < cps.size(); ++i) {
    int32_t cp = cps[i];
    if (cp < 128) {
      out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    } else if (cp == 0x130) {
      out.push_back('i');
      out.push_back(0x307);
    } else if (cp == 0x3A3) {
      // ς after a cased letter and not before one (case-ignorables skipped both ways).
      size_t j = i;
      while (j > 0 && is_case_ignorable(cps[j - 1])) --j;
      bool final = j > 0 && is_cased(cps[j - 1]);
      size_t k = i + 1;
      while (k < cps.size() && is_case_ignorable(cps[k])) ++k;
      final = final && (k == cps.size() || !is_cased(cps[k]));
      out.push_back(final ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(utf8proc_tolower(cp));
    }
  }
  cps.swap(out);
}

// NFD, then every nonspacing mark (Mn) dropped: "café" -> "cafe".
void strip_accents(std::vector<int32_t>& cps) {
  bool ascii = true;
  for (int32_t cp : cps) ascii = ascii && cp < 128;
  if (ascii) return;
  // Canonical reordering is left out: it only moves marks, and the marks that matter are
  // the Mn ones dropped here.
  std::vector<int32_t> out;
  for (int32_t cp : cps) {
    utf8proc_int32_t decomposed[16];
    int last_boundclass = 0;
    auto n = utf8proc_decompose_char(cp, decomposed, 16, UTF8PROC_DECOMPOSE, &last_boundclass);
    if (n < 0 || n > 16) {
      out.push_back(cp);
      continue;
    }
    for (utf8proc_ssize_t k = 0; k < n; ++k)
      if (category(decomposed[k]) != UTF8PROC_CATEGORY_MN) out.push_back(decomposed[k]);
  }
  cps.swap(out);
}

void flush(std::vector<int32_t>& cps, const WordPieceOptions& options,
           std::vector<std::string>& words) {
  if (cps.empty()) return;
  if (options.lower_case) lower(cps);
  if (options.strip_accents.value_or(options.lower_case)) strip_accents(cps);
  std::string word;
  for (int32_t cp : cps) {
    if (is_punctuation(cp)) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
      append_utf8(word, cp);
      words.push_back(std::move(word));
      word.clear();
    } else {
      append_utf8(word, cp);
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  cps.clear();
}

}  // namespace

bool is_bert_whitespace(int32_t cp, bool clean_text) {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
  if (cp < 128) return !clean_text && (cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1F));
  if (cp == 0x85) return !clean_text;
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

void basic_tokenize_chunk(const std::string& chunk, const WordPieceOptions& options,
                          std::vector<std::string>& words) {
  std::vector<int32_t> cps;
  for (size_t i = 0; i < chunk.size();) {
    int32_t cp = next_code_point(chunk, i, "WordPieceTokenizer");
    if (options.clean_text && (cp == 0 || cp == 0xFFFD || is_control(cp))) continue;
    if (options.tokenize_chinese_chars && is_cjk(cp)) {
      flush(cps, options, words);
      cps.push_back(cp);
      flush(cps, options, words);
      continue;
    }
    cps.push_back(cp);
  }
  flush(cps, options, words);
}

}  // namespace ember::text::detail
