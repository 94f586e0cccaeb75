// UTF-8 decoding and encoding shared by the subword tokenizers (private): an ASCII fast path,
// utf8proc for the rest so that malformed input is caught the same way everywhere.
#pragma once

#include <utf8proc.h>

#include <cstdint>
#include <string>

#include "ember/error.hpp"

namespace ember::text::detail {

// The code point at byte `i` of `s`; `i` moves past it. Throws ValueError
// "<who>: invalid UTF-8 at byte N".
inline int32_t next_code_point(const std::string& s, size_t& i, const char* who) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  utf8proc_int32_t cp = 0;
  auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()) + i,
                              static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  EMBER_CHECK_VALUE(len > 0, who, ": invalid UTF-8 at byte ", i);
  i += static_cast<size_t>(len);
  return cp;
}

inline void append_utf8(std::string& out, int32_t cp) {
  auto u = static_cast<uint32_t>(cp);
  if (u < 0x80) {
    out += static_cast<char>(u);
  } else if (u < 0x800) {
    out += static_cast<char>(0xC0 | (u >> 6));
    out += static_cast<char>(0x80 | (u & 0x3F));
  } else if (u < 0x10000) {
    out += static_cast<char>(0xE0 | (u >> 12));
    out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (u & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (u >> 18));
    out += static_cast<char>(0x80 | ((u >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (u & 0x3F));
  }
}

}  // namespace ember::text::detail
