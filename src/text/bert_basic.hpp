// BERT's BasicTokenizer (private), as published in google-research/bert tokenization.py and
// Hugging Face's BertTokenizer / BertNormalizer + BertPreTokenizer.
#pragma once

#include <string>
#include <vector>

#include "ember/text/wordpiece.hpp"

namespace ember::text::detail {

// Whitespace as BERT splits on it: space, tab, newline, carriage return, and the Unicode
// separators (Zs; Zl and Zp too, which Python's str.split() splits on). Without clean_text
// the ASCII controls Python counts as space split as well (cleaning deletes them instead).
bool is_bert_whitespace(int32_t cp, bool clean_text);

// The words of one whitespace-free chunk of text, appended to `words`: cleaned, CJK
// characters split off, lower-cased and accent-stripped as `options` say, punctuation split.
void basic_tokenize_chunk(const std::string& chunk, const WordPieceOptions& options,
                          std::vector<std::string>& words);

// Calls f(chunk) for each maximal run of non-whitespace in `text`.
template <class F>
void for_each_chunk(const std::string& text, bool clean_text, const char* who, F&& f);

}  // namespace ember::text::detail

#include "utf8.hpp"

namespace ember::text::detail {

template <class F>
void for_each_chunk(const std::string& text, bool clean_text, const char* who, F&& f) {
  size_t start = 0, i = 0;
  while (i < text.size()) {
    size_t at = i;
    int32_t cp = next_code_point(text, i, who);
    if (!is_bert_whitespace(cp, clean_text)) continue;
    if (at > start) f(text.substr(start, at - start));
    start = i;
  }
  if (text.size() > start) f(text.substr(start));
}

}  // namespace ember::text::detail
