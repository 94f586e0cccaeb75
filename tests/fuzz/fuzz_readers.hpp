// Shared by the libFuzzer targets: every reader takes a path, so each input goes to a file
// first. Any ember::Error is an accepted answer; a crash, a leak or UB is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <ember/ember.hpp>
#include <fstream>
#include <string>

namespace fuzz {
inline const std::string& input_path() {
  static const std::string path = "/tmp/ember_fuzz_" + std::to_string(::getpid());
  return path;
}
inline void write_input(const uint8_t* data, size_t size) {
  std::ofstream(input_path(), std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}
}  // namespace fuzz

#define EMBER_FUZZ_READER(call)                                             \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    fuzz::write_input(data, size);                                          \
    try {                                                                   \
      call;                                                                 \
    } catch (const ember::Error&) {                                         \
    }                                                                       \
    return 0;                                                               \
  }
