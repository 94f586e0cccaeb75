// libFuzzer target: text::load_word_vectors (format detected) on arbitrary bytes.
#include "fuzz_readers.hpp"

EMBER_FUZZ_READER(ember::text::load_word_vectors(fuzz::input_path()))
