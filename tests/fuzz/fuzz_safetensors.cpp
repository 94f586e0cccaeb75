// libFuzzer target: io::load_archive on arbitrary bytes.
#include "fuzz_readers.hpp"

EMBER_FUZZ_READER(ember::io::load_archive(fuzz::input_path()))
