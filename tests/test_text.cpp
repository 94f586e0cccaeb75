// text: tokenizer, Vocab, TSV datasets, padding, shuffles, word vectors in three formats.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <ember/ember.hpp>
#include <fstream>
#include <sstream>

using namespace ember;
using namespace ember::text;

namespace {
std::string temp_file(const std::string& name, const std::string& bytes) {
  std::string path = std::string(EMBER_BINARY_DIR) + "/text_test_" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}
}  // namespace

TEST_CASE("tokenize splits on Unicode whitespace and separates punctuation") {
  CHECK(tokenize("내 이름은 채영") == std::vector<std::string>{"내", "이름은", "채영"});
  CHECK(tokenize("Hello, world!  It's 3.5") ==
        std::vector<std::string>{"Hello", ",", "world", "!", "It", "'", "s", "3", ".", "5"});
  CHECK(tokenize("좋아요\u3000정말。 “멋져” 🎉🎉") ==
        std::vector<std::string>{"좋아요", "정말", "。", "“", "멋져", "”", "🎉", "🎉"});
  CHECK(tokenize("a\u00A0b\tc\nd") == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(tokenize("ABC 가나 Éa", TokenizerOptions{true}) ==
        std::vector<std::string>{"abc", "가나", "éa"});
  CHECK(tokenize("   ").empty());
}

TEST_CASE("invalid UTF-8 throws, naming the byte") {
  CHECK_THROWS_WITH_AS(tokenize("ok \xff bad"), "tokenize: invalid UTF-8 at byte 3", ValueError);
  CHECK_THROWS_AS(tokenize("\xed\xa0\x80"), ValueError);  // a surrogate
  CHECK_THROWS_AS(tokenize("\xc0\xaf"), ValueError);      // an overlong '/'
  CHECK_THROWS_AS(tokenize("\xe6\x97"), ValueError);      // truncated
  size_t bad = 0;
  CHECK_FALSE(is_valid_utf8("ab\xe6", &bad));
  CHECK(bad == 2);
}

TEST_CASE("Vocab: specials first, then frequency, ties by first appearance") {
  Vocab v = Vocab::build({"b a c a", "c d a"}, {"<unk>", "<pad>"});
  CHECK(v.tokens() == std::vector<std::string>{"<unk>", "<pad>", "a", "c", "b", "d"});
  CHECK(v["a"] == 2);
  CHECK(v["zebra"] == 0);
  CHECK(v.lookup_token(3) == "c");
  CHECK(v.encode("a zebra d") == std::vector<int64_t>{2, 0, 5});
  CHECK(v.decode({2, 3}) == "a c");
  CHECK(Vocab::build({"b a c a", "c d a"}, {"<unk>", "<pad>"}, 2).size() == 4);
  CHECK(Vocab::build({"b a c a", "c d a"}, {"<unk>", "<pad>"}, 1, 3).tokens().back() == "a");
  std::ostringstream s;
  s << Vocab::build({"내 이름은 채영"});
  CHECK(s.str() == "{'<unk>': 0, '<pad>': 1, '내': 2, '이름은': 3, '채영': 4}");
  CHECK_THROWS_AS(v.lookup_token(6), IndexError);
  Vocab no_unk({"x", "y"});
  CHECK_THROWS_WITH_AS(no_unk["z"], "Vocab: token 'z' is not in the vocabulary, which has no <unk>",
                       IndexError);
}

TEST_CASE("Vocab save and load, and malformed vocab files") {
  Vocab v = Vocab::build({"내 이름은 채영 🎉"});
  std::string path = std::string(EMBER_BINARY_DIR) + "/text_test_vocab.txt";
  v.save(path);
  Vocab back = Vocab::load(path);
  CHECK(back.tokens() == v.tokens());
  CHECK(back["채영"] == v["채영"]);
  CHECK_THROWS_WITH_AS(Vocab::load(temp_file("v1.txt", "a\n\xff\n")),
                       doctest::Contains("v1.txt:2: invalid UTF-8 at byte 0"), IoError);
  CHECK_THROWS_WITH_AS(Vocab::load(temp_file("v2.txt", "a\nb\na\n")),
                       doctest::Contains("v2.txt:3: token 'a' already on line 1"), IoError);
  CHECK_THROWS_WITH_AS(Vocab::load(temp_file("v3.txt", "a\n\nb\n")),
                       doctest::Contains("v3.txt:2: empty token"), IoError);
  CHECK_THROWS_AS(Vocab::load(temp_file("v4.txt", "")), IoError);
  CHECK_THROWS_AS(Vocab::load("/nonexistent/vocab.txt"), IoError);
}

TEST_CASE("read_tsv: labels by first appearance; errors name file and line") {
  LabelSet labels;
  auto rows = read_tsv(temp_file("ok.tsv", "pos\tgood film\n\nneg\tbad\r\npos\t좋아요\n"), labels);
  CHECK(rows.size() == 3);
  CHECK(labels.names() == std::vector<std::string>{"pos", "neg"});
  CHECK(rows[2].text == "좋아요");
  CHECK(rows[1].label == 1);
  CHECK_THROWS_WITH_AS(read_tsv(temp_file("notab.tsv", "pos\tok\nno tab here\n"), labels),
                       doctest::Contains("notab.tsv:2: expected label<TAB>text, found no tab"),
                       IoError);
  CHECK_THROWS_WITH_AS(read_tsv(temp_file("utf.tsv", "pos\tok\npos\tbad \xc3\n"), labels),
                       doctest::Contains("utf.tsv:2: invalid UTF-8 at byte 8"), IoError);
  CHECK_THROWS_WITH_AS(read_tsv(temp_file("empty.tsv", "\n\n"), labels),
                       doctest::Contains("holds no examples (empty dataset)"), IoError);
  CHECK_THROWS_WITH_AS(read_tsv(temp_file("new.tsv", "meh\tok\n"), labels, false),
                       doctest::Contains("new.tsv:1: label 'meh' is not one of the 2 labels"),
                       IoError);
  CHECK_THROWS_WITH_AS(read_tsv("/nonexistent.tsv", labels),
                       "read_tsv: cannot open '/nonexistent.tsv'", IoError);
}

TEST_CASE("pad_sequences pads with <pad> and truncates past max_len") {
  IndexTensor t = pad_sequences({{5, 6, 7}, {8}, {}}, 1);
  CHECK(t.shape() == Shape{3, 3});
  CHECK(t.to_vector() == std::vector<int64_t>{5, 6, 7, 8, 1, 1, 1, 1, 1});
  CHECK(pad_sequences({{5, 6, 7}, {8}}, 1, 2).to_vector() == std::vector<int64_t>{5, 6, 8, 1});
  CHECK(pad_sequences({{5}}, 1, std::nullopt, 4).shape() == Shape{1, 4});
}

TEST_CASE("shuffles and splits are seeded") {
  CHECK(shuffled_indices(10, 3) == shuffled_indices(10, 3));
  CHECK(shuffled_indices(10, 3) != shuffled_indices(10, 4));
  std::vector<Example> ex;
  for (int i = 0; i < 10; ++i) ex.push_back({std::to_string(i), i % 2});
  auto [train, valid] = train_valid_split(ex, 0.2, 1);
  CHECK(train.size() == 8);
  CHECK(valid.size() == 2);
}

TEST_CASE("word vectors: word2vec text, GloVe text and word2vec binary") {
  std::string w2v = temp_file("w2v.txt", "3 2\n좋아 0.5 1\nbad -1 2.5\nfilm 0 0\n");
  std::string glove = temp_file("glove.txt", "좋아 0.5 1\nbad -1 2.5\nfilm 0 0\n");
  std::string bin = "3 2\n";
  const char* words[] = {"좋아", "bad", "film"};
  float values[3][2] = {{0.5f, 1}, {-1, 2.5f}, {0, 0}};
  for (int i = 0; i < 3; ++i) {
    bin += std::string(words[i]) + " ";
    bin.append(reinterpret_cast<const char*>(values[i]), 8);
    bin += "\n";
  }
  std::string binary = temp_file("w2v.bin", bin);
  for (const std::string& path : {w2v, glove, binary}) {
    CAPTURE(path);
    WordVectors wv = load_word_vectors(path);
    CHECK(wv.words == std::vector<std::string>{"좋아", "bad", "film"});
    CHECK(wv.vectors.to_vector() == std::vector<float>{0.5f, 1, -1, 2.5f, 0, 0});
  }
  CHECK_THROWS_WITH_AS(load_word_vectors(temp_file("short.txt", "2 2\na 1 2\nb 1\n")),
                       doctest::Contains("short.txt:3: expected 2 values after the word, found 1"),
                       IoError);
  CHECK_THROWS_WITH_AS(load_word_vectors(temp_file("count.txt", "3 2\na 1 2\n")),
                       doctest::Contains("the header promises 3 vectors, the file holds 1"),
                       IoError);
  CHECK_THROWS_WITH_AS(load_word_vectors(temp_file("nan.txt", "a 1 x\n")),
                       doctest::Contains("'x' is not a number"), IoError);
  // An untrusted header may not make Ember allocate what the file cannot hold (found by fuzzing).
  CHECK_THROWS_WITH_AS(load_word_vectors(temp_file("huge.bin", "90000000 99999\n\x01\x02")),
                       doctest::Contains("the header promises 90000000 vectors of 99999 floats"),
                       IoError);
  CHECK_THROWS_WITH_AS(load_word_vectors(temp_file("trunc.bin", bin.substr(0, bin.size() - 6))),
                       doctest::Contains("file ends inside the vector (truncated)"), IoError);
}

TEST_CASE("aligning vectors to a vocab: coverage report, missing rows random, pad row zero") {
  WordVectors wv = load_word_vectors(temp_file("align.txt", "좋아 0.5 1\nbad -1 2.5\n"));
  Vocab vocab = Vocab::build({"좋아 film bad film"});  // <unk> <pad> film 좋아 bad
  manual_seed(5);
  AlignedVectors a = align_to_vocab(wv, vocab, 1);
  CHECK(a.found == 2);
  CHECK(a.missing == 2);  // <unk> and film
  CHECK(a.report() == "found 2 of 4 vocabulary words (50.0%)");
  std::vector<float> w = a.weights.to_vector();
  CHECK(std::vector<float>(w.begin() + 2, w.begin() + 4) == std::vector<float>{0, 0});
  CHECK(std::vector<float>(w.begin() + 6, w.begin() + 8) == std::vector<float>{0.5f, 1});
  CHECK(std::vector<float>(w.begin() + 8, w.begin() + 10) == std::vector<float>{-1, 2.5f});
  nn::Embedding emb = nn::Embedding::from_pretrained(a.weights, /*freeze=*/true,
                                                     nn::EmbeddingOptions(1, 1).padding_idx(1));
  CHECK_FALSE(emb.weight.requires_grad());
}
