// Autocast's per-thread switch and the rule that says where bfloat16 products run.
#include "ember/autocast.hpp"

#include <cstdlib>
#include <string>

#include "ember/error.hpp"
#include "ember/gemm.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace ember::autocast {

namespace {
thread_local bool enabled = false;

// AMX-BF16 (CPUID leaf 7, EDX bit 22), or an AMD CPU with AVX512_BF16 (leaf 7 subleaf 1, EAX
// bit 5): where oneDNN's bfloat16 matmul was measured faster than float32 (see the header).
bool cpu_multiplies_bf16_fast() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const bool amx_bf16 = (d >> 22) & 1u;
  __cpuid_count(7, 1, a, b, c, d);
  const bool avx512_bf16 = (a >> 5) & 1u;
  __cpuid(0, a, b, c, d);
  const bool amd = b == 0x68747541u;  // "Auth" of "AuthenticAMD"
  return amx_bf16 || (amd && avx512_bf16);
#else
  return false;
#endif
}
}  // namespace

Guard::Guard(Dtype dtype, bool enable) : previous_(enabled) {
  EMBER_CHECK_DTYPE(dtype == kBFloat16, "autocast::Guard: the lower precision must be bfloat16, ",
                    "got ", dtype_name(dtype));
  enabled = enable;
}
Guard::~Guard() { enabled = previous_; }

bool is_enabled() { return enabled; }

Products products() {
  static const Products chosen = [] {
    const bool onednn = gemm_engine_available(GemmEngine::onednn);
    const char* env = std::getenv("EMBER_BF16_GEMM");
    if (env != nullptr && *env != '\0') {
      const std::string value = env;
      EMBER_CHECK_VALUE(value == "native" || value == "float32" || value == "widened",
                        "EMBER_BF16_GEMM: '", value,
                        "' is not one of 'native', 'float32' or 'widened' (or unset)");
      EMBER_CHECK_VALUE(value != "native" || onednn, "EMBER_BF16_GEMM=native needs oneDNN, ",
                        "which this build of Ember lacks");
      if (value == "native") return Products::bf16_native;
      return value == "float32" ? Products::float32 : Products::bf16_widened;
    }
    const bool native =
        onednn && get_gemm_engine() == GemmEngine::onednn && cpu_multiplies_bf16_fast();
    return native ? Products::bf16_native : Products::float32;
  }();
  return chosen;
}

const char* products_name(Products p) {
  switch (p) {
    case Products::bf16_native:
      return "bf16_native";
    case Products::float32:
      return "float32";
    case Products::bf16_widened:
      return "bf16_widened";
  }
  return "unknown";
}

bool native_bf16_gemm() { return products() == Products::bf16_native; }

}  // namespace ember::autocast
