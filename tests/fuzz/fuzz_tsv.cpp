// libFuzzer target: text::read_tsv, then tokenizing every sentence it accepted.
#include "fuzz_readers.hpp"

namespace {
void read_and_tokenize() {
  ember::text::LabelSet labels;
  for (const auto& example : ember::text::read_tsv(fuzz::input_path(), labels))
    ember::text::tokenize(example.text);
}
}  // namespace

EMBER_FUZZ_READER(read_and_tokenize())
