// Unicode-aware tokenisation on utf8proc: NFKC normalisation, optional Unicode case folding,
// whitespace, punctuation and symbols by Unicode category, scripts written without spaces
// split into characters, and a character mode (grapheme clusters or code points).
#pragma once

#include <string>
#include <vector>

namespace ember::text {

// What one token is.
//   Word: runs of letters, marks and digits between whitespace (Unicode categories Zs, Zl, Zp,
//     Cc). Punctuation (P*) and symbols (S*) are tokens of their own, each with the rest of
//     its grapheme cluster, so "👍🏽" or a ZWJ emoji sequence stays one token. Scripts written
//     without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) give one token per
//     grapheme cluster: "我爱你" -> 我 爱 你 (word bigrams then see 我爱 and 爱你). Hangul is
//     written with spaces and stays in words.
//   Grapheme: every extended grapheme cluster (Unicode UAX #29, as utf8proc finds them) is a
//     token, whitespace included as a single " " token: what a character-level model wants.
//   CodePoint: the same, one token per code point.
//   RawCodePoint: one token per code point of the text exactly as given: no normalisation, no
//     case folding (`lower` is refused), '\n' and '\t' kept, so decode(encode(s)) == s. Python's
//     list(text), for a character language model that must reproduce its text.
enum class TokenUnit { Word, Grapheme, CodePoint, RawCodePoint };

struct TokenizerOptions {
  bool lower = false;  // Unicode case folding (ß -> ss, Σ -> σ), not only ASCII
  TokenUnit unit = TokenUnit::Word;
};

// The text as every token sees it: NFKC (compatibility forms folded too, so "ｆｕｌｌ" and
// "full", or NFC and NFD spellings, give the same tokens), case-folded when `lower`.
// Throws ValueError "tokenize: invalid UTF-8 at byte N" on malformed input.
std::string normalize(const std::string& text, bool lower);

std::vector<std::string> tokenize(const std::string& sentence,
                                  const TokenizerOptions& options = {});

// True when `s` is valid UTF-8; otherwise `bad_byte` is the offset of the first bad byte.
bool is_valid_utf8(const std::string& s, size_t* bad_byte = nullptr);

// The code points of valid UTF-8 text, each as its own string (character n-grams use them).
std::vector<std::string> split_code_points(const std::string& s);

}  // namespace ember::text
