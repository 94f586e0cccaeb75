// libFuzzer target: pack_padded_sequence, pad_packed_sequence and the recurrent layers on
// packed sequences built from arbitrary bytes (shapes, lengths, batch_sizes and the sort
// permutations, small or huge, negative or not), with backward. Any ember::Error is an
// accepted answer; a crash, a leak or UB is a finding.
#include <cstdint>
#include <cstring>
#include <ember/ember.hpp>
#include <vector>

namespace {

using ember::IndexTensor;
using ember::Tensor;
using ember::nn::utils::rnn::PackedSequence;

// Reads the input front to back; past the end everything reads as zero.
struct Bytes {
  const uint8_t* data;
  size_t size, at = 0;
  uint8_t byte() { return at < size ? data[at++] : 0; }
  // Mostly small signed values, sometimes a full 64-bit one (overflow hunting).
  int64_t value() {
    const uint8_t tag = byte();
    if (tag < 0xF0) return static_cast<int8_t>(byte());
    int64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | byte();
    return v;
  }
  std::vector<int64_t> values(size_t n) {
    std::vector<int64_t> out;
    for (size_t i = 0; i < n; ++i) out.push_back(value());
    return out;
  }
};

void backward_of(const Tensor& t) {
  if (t.defined() && t.requires_grad() && t.numel() > 0) ember::sum(t).backward();
}

void run(Bytes& in) {
  static ember::nn::LSTM lstm(2, 3);
  static ember::nn::GRU gru(ember::nn::GRUOptions(2, 3).num_layers(2).bidirectional(true));
  const uint8_t how = in.byte();
  const bool batch_first = how & 1, sorted = how & 2, through_layer = how & 4, use_gru = how & 8;
  PackedSequence seq;
  if (how & 16) {  // by hand
    const int64_t rows = in.byte() % 12;
    seq.data = ember::randn({rows, 2}, true);
    seq.batch_sizes = IndexTensor(in.values(in.byte() % 6));
    const size_t n = in.byte() % 5;
    seq.sorted_indices = IndexTensor(in.values(n));
    seq.unsorted_indices = IndexTensor(in.values(in.byte() & 1 ? n : in.byte() % 5));
  } else {  // from a padded batch
    const int64_t T = in.byte() % 6, B = in.byte() % 5;
    Tensor x = ember::randn(batch_first ? ember::Shape{B, T, 2} : ember::Shape{T, B, 2}, true);
    seq = ember::nn::utils::rnn::pack_padded_sequence(x, in.values(in.byte() % 6), batch_first,
                                                      sorted);
  }
  if (through_layer) {
    if (use_gru) {
      auto [out, h] = gru(seq);
      seq = out;
      backward_of(h);
    } else {
      auto [out, state] = lstm(seq);
      seq = out;
      backward_of(std::get<1>(state));
    }
  }
  const int64_t total_length = static_cast<int8_t>(in.byte());
  auto [padded, lengths] =
      ember::nn::utils::rnn::pad_packed_sequence(seq, batch_first, 0.f, total_length);
  backward_of(padded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in{data, size};
  try {
    run(in);
  } catch (const ember::Error&) {
  }
  return 0;
}
