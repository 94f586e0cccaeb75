// text, Unicode side: normalisation, case folding, categories, unspaced scripts, emoji,
// character modes, the pinned n-gram hash and the shared line reader.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <fstream>
#include <sstream>

using namespace ember;
using namespace ember::text;

namespace {
using Tokens = std::vector<std::string>;
}

TEST_CASE("tokenize: Korean stays in words, particles attached, NFD Hangul composed") {
  CHECK(tokenize("저는 학생입니다.") == Tokens{"저는", "학생입니다", "."});
  // "한" written as conjoining jamo (NFD) is the same token as the precomposed syllable.
  CHECK(tokenize("\u1112\u1161\u11AB국") == Tokens{"한국"});
}

TEST_CASE("tokenize: Chinese and Japanese without spaces give one token per character") {
  CHECK(tokenize("我爱北京。") == Tokens{"我", "爱", "北", "京", "。"});
  CHECK(tokenize("東京タワーへ行く") == Tokens{"東", "京", "タ", "ワ", "ー", "へ", "行", "く"});
  CHECK(tokenize("用Ember训练") == Tokens{"用", "Ember", "训", "练"});
  // Thai: a grapheme cluster keeps its vowel mark.
  CHECK(tokenize("กิน") == Tokens{"กิ", "น"});
}

TEST_CASE("tokenize: emoji are symbols, one token per grapheme cluster") {
  CHECK(tokenize("great👍🏽movie") == Tokens{"great", "👍🏽", "movie"});
  // A ZWJ family is one cluster, so one token.
  CHECK(tokenize("👨\u200D👩\u200D👧 ok") == Tokens{"👨\u200D👩\u200D👧", "ok"});
  CHECK(tokenize("a😀😀b") == Tokens{"a", "😀", "😀", "b"});
}

TEST_CASE("tokenize: NFC and NFD spellings give the same tokens and the same ids") {
  const std::string nfc = "caf\u00E9 na\u00EFve", nfd = "cafe\u0301 nai\u0308ve";
  CHECK(tokenize(nfc) == tokenize(nfd));
  Vocab v = Vocab::build({nfc});
  CHECK(v.encode(nfd) == v.encode(nfc));
  CHECK(v.encode(nfd) == std::vector<int64_t>{2, 3});
  // NFKC folds compatibility forms: fullwidth letters, ligatures.
  CHECK(tokenize("ＦＵＬＬ ﬁne", TokenizerOptions{true}) == Tokens{"full", "fine"});
}

TEST_CASE("tokenize: Unicode case folding, punctuation and whitespace by category") {
  // (NFKC spells "…" as three full stops.)
  CHECK(tokenize("STRAẞE ΣΟΦΊΑ Ünïcode", TokenizerOptions{true}) ==
        Tokens{"strasse", "σοφία", "ünïcode"});
  CHECK(tokenize("¿Qué? «bien» — sí… ‹x› ¡no! 1+1=2 5€") ==
        Tokens{"¿", "Qué", "?", "«",  "bien", "»", "—", "sí", ".", ".", ".", "‹",
               "x", "›",   "¡", "no", "!",    "1", "+", "1",  "=", "2", "5", "€"});
  CHECK(tokenize("a\u2003b\u2029c\u200Bd\u1680e") == Tokens{"a", "b", "c", "d", "e"});
  CHECK(tokenize("don't") == Tokens{"don", "'", "t"});
}

TEST_CASE("character modes: grapheme clusters or code points, and a character vocabulary") {
  TokenizerOptions graphemes{false, TokenUnit::Grapheme};
  TokenizerOptions code_points{false, TokenUnit::CodePoint};
  CHECK(tokenize("한국 👍🏽!", graphemes) == Tokens{"한", "국", " ", "👍🏽", "!"});
  CHECK(tokenize("👍🏽", code_points) == Tokens{"👍", "🏽"});
  CHECK(tokenize("e\u0301\tx", graphemes) == Tokens{"\u00E9", " ", "x"});
  Vocab v = Vocab::build({"hello 세계"}, {"<unk>", "<pad>"}, 1, std::nullopt, graphemes);
  CHECK(v.size() == 2 + 7);  // h e l o ' ' 세 계
  CHECK(v.decode(v.encode("hello 세계")) == "hello 세계");
  CHECK(v.encode("z")[0] == 0);
}

TEST_CASE("n-gram hashing is FNV-1a, pinned: the same buckets on every run and platform") {
  CHECK(fnv1a("") == 2166136261u);
  CHECK(fnv1a("a") == 0xE40C292Cu);
  CHECK(fnv1a("한국") == fnv1a("\xED\x95\x9C\xEA\xB5\xAD"));
  NgramOptions bigrams{2, 0, 0, 1000};
  std::vector<int64_t> ids;
  append_ngram_ids({"good", "movie"}, bigrams, 10, ids);
  const uint64_t h = uint64_t{fnv1a("good")} * 116049371u + fnv1a("movie");
  CHECK(ids == std::vector<int64_t>{10 + static_cast<int64_t>(h % 1000)});
  // Character n-grams on code points of "<한국>": 2-grams <한 한국 국>, 3-grams <한국 한국>.
  ids.clear();
  append_ngram_ids({"한국"}, NgramOptions{1, 2, 3, 1u << 20}, 0, ids);
  std::vector<int64_t> expected;
  for (const char* g : {"<한", "<한국", "한국", "한국>", "국>"})
    expected.push_back(static_cast<int64_t>(fnv1a(g) % (1u << 20)));
  CHECK(ids == expected);
  CHECK_THROWS_AS(append_ngram_ids({"x"}, NgramOptions{1, 3, 2, 10}, 0, ids), ValueError);
}

TEST_CASE("LineReader: CR stripped, UTF-8 checked, errors name file and line") {
  std::istringstream in("one\r\ntwo\n\xff\n");
  LineReader lines(in, "<stdin>");
  std::string line;
  REQUIRE(lines.next(line));
  CHECK(line == "one");
  REQUIRE(lines.next(line));
  CHECK(line == "two");
  CHECK_THROWS_WITH_AS(lines.next(line), "<stdin>:3: invalid UTF-8 at byte 0", IoError);
  CHECK_THROWS_WITH_AS(LineReader("/nonexistent/x", "who"), "who: cannot open '/nonexistent/x'",
                       IoError);
}
