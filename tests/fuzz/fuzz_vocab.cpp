// libFuzzer target: text::Vocab::load, then encoding with the vocabulary it gave.
#include "fuzz_readers.hpp"

EMBER_FUZZ_READER(ember::text::Vocab::load(fuzz::input_path()).encode("a b 가"))
