// Hand-made and empty packed sequences (issue 21, item 10): every reader of a PackedSequence
// checks what it indexes with and throws naming the op and the values, where it used to
// segfault (a batch of 0) or overflow the heap (ASan: rnn_layer, pad_packed_sequence).
#include <doctest/doctest.h>

#include <ember/ember.hpp>

using namespace ember;
using nn::utils::rnn::pack_padded_sequence;
using nn::utils::rnn::PackedSequence;
using nn::utils::rnn::pad_packed_sequence;

namespace {

PackedSequence packed(int64_t rows, std::vector<int64_t> batch_sizes,
                      std::vector<int64_t> sorted = {}, std::vector<int64_t> unsorted = {}) {
  return {randn({rows, 3}), IndexTensor(std::move(batch_sizes)), IndexTensor(std::move(sorted)),
          IndexTensor(std::move(unsorted))};
}

}  // namespace

TEST_CASE("pack_padded_sequence of a batch of 0 throws PyTorch's message") {
  for (bool batch_first : {false, true})
    for (bool sorted : {false, true}) {
      CAPTURE(batch_first);
      CAPTURE(sorted);
      Tensor x = batch_first ? zeros({0, 5, 3}) : zeros({5, 0, 3});
      CHECK_THROWS_WITH_AS(pack_padded_sequence(x, std::vector<int64_t>{}, batch_first, sorted),
                           doctest::Contains("pack_padded_sequence: Cannot pack empty tensors"),
                           ShapeError);
    }
  CHECK_THROWS_WITH_AS(pack_padded_sequence(zeros({0, 2, 3}), std::vector<int64_t>{0, 0}),
                       "pack_padded_sequence: Cannot pack empty tensors (input shape [0,2,3])",
                       ShapeError);
}

TEST_CASE("a hand-made PackedSequence whose batch_sizes do not fit its rows is refused") {
  nn::LSTM lstm(3, 4);
  nn::GRU gru(nn::GRUOptions(3, 4).bidirectional(true));
  auto run_all = [&](const PackedSequence& p) {
    CHECK_THROWS_AS(lstm(p), Error);
    CHECK_THROWS_AS(gru(p), Error);
    CHECK_THROWS_AS(pad_packed_sequence(p), Error);
  };
  SUBCASE("batch_sizes overrun the rows") {
    run_all(packed(3, {2, 2}));
    CHECK_THROWS_WITH_AS(pad_packed_sequence(packed(3, {2, 2})),
                         "pad_packed_sequence: batch_sizes [2,2] need more rows than data's 3 "
                         "(shape [3,3])",
                         ShapeError);
  }
  SUBCASE("fewer batch_sizes than rows") {
    run_all(packed(5, {2, 2}));
    CHECK_THROWS_WITH_AS(lstm(packed(5, {2, 2})),
                         "LSTM: data has 5 rows but batch_sizes [2,2] sum to 4", ShapeError);
  }
  SUBCASE("batch_sizes increase") {
    run_all(packed(4, {1, 3}));
    CHECK_THROWS_WITH_AS(lstm(packed(4, {1, 3})),
                         "LSTM: batch_sizes [1,3] must be positive and non-increasing (as "
                         "pack_padded_sequence makes them), got 3 at step 1",
                         ValueError);
  }
  SUBCASE("a negative or zero batch size") {
    run_all(packed(1, {2, -1}));
    run_all(packed(2, {2, 0}));
    run_all(packed(0, {0}));
  }
  SUBCASE("huge batch sizes do not overflow the row count") {
    const int64_t big = int64_t{1} << 62;
    run_all(packed(2, {big, big, big, big}));
  }
  SUBCASE("no steps") {
    CHECK_THROWS_WITH_AS(lstm(packed(0, {})), "LSTM: packed input has no steps", ShapeError);
    CHECK_THROWS_WITH_AS(pad_packed_sequence(packed(0, {})),
                         "pad_packed_sequence: empty packed sequence", ShapeError);
  }
}

TEST_CASE("a hand-made PackedSequence whose sorted_indices are no permutation is refused") {
  nn::RNN rnn(3, 4);
  auto run_all = [&](const PackedSequence& p) {
    CHECK_THROWS_AS(rnn(p), IndexError);
    CHECK_THROWS_AS(pad_packed_sequence(p), IndexError);
  };
  SUBCASE("out of range") {
    run_all(packed(4, {2, 2}, {0, 5}, {0, 1}));
    CHECK_THROWS_WITH_AS(pad_packed_sequence(packed(4, {2, 2}, {0, 5}, {0, 1})),
                         "pad_packed_sequence: sorted_indices [0,5] and unsorted_indices [0,1] "
                         "must be inverse permutations of 0 .. 1 (the batch size, "
                         "batch_sizes[0] = 2)",
                         IndexError);
  }
  SUBCASE("negative") { run_all(packed(4, {2, 2}, {0, -1}, {0, 1})); }
  SUBCASE("unsorted_indices out of range") { run_all(packed(4, {2, 2}, {0, 1}, {0, 7})); }
  SUBCASE("wrong length") { run_all(packed(4, {2, 2}, {0, 1, 2}, {0, 1, 2})); }
  SUBCASE("a repeated index") { run_all(packed(4, {2, 2}, {0, 0}, {0, 0})); }
  SUBCASE("sorted without unsorted, or the reverse") {
    run_all(packed(4, {2, 2}, {1, 0}, {}));
    run_all(packed(4, {2, 2}, {}, {1, 0}));
  }
}

TEST_CASE("a valid hand-made PackedSequence runs as the one pack_padded_sequence makes") {
  manual_seed(2);
  nn::LSTM lstm(3, 4);
  Tensor x = randn({3, 2, 3});
  PackedSequence made = pack_padded_sequence(x, std::vector<int64_t>{2, 3}, false, false);
  PackedSequence by_hand{made.data, IndexTensor(std::vector<int64_t>{2, 2, 1}),
                         IndexTensor(std::vector<int64_t>{1, 0}),
                         IndexTensor(std::vector<int64_t>{1, 0})};
  auto [a, sa] = lstm(made);
  auto [b, sb] = lstm(by_hand);
  CHECK(a.data.to_vector() == b.data.to_vector());
  CHECK(std::get<0>(pad_packed_sequence(a)).to_vector() ==
        std::get<0>(pad_packed_sequence(b)).to_vector());
}
