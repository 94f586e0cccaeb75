// A process that reports which GEMM engine it runs and the bits of one Linear forward and
// backward, for test_gemm_engine.cpp: the engine must be the same in every process on a machine
// (no timing decides it), and EMBER_GEMM must pin it.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ember/ember.hpp>
#include <iostream>

int main(int argc, char** argv) {
  using namespace ember;
  try {
    if (argc > 1) set_num_threads(std::atoi(argv[1]));  // Ember's pool; OpenBLAS reads its env
    manual_seed(7);
    Tensor x = randn({96, 200}, true), w = randn({300, 200}, true);
    Tensor y = linear(x, w);
    sum(mul(y, y)).backward();
    // FNV-1a over the bits of y, dx and dw.
    uint64_t hash = 1469598103934665603ull;
    for (const Tensor& t : {y, x.grad(), w.grad()})
      for (float v : t.to_vector()) {
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        hash = (hash ^ bits) * 1099511628211ull;
      }
    GemmEngine e = get_gemm_engine();
    std::cout << "engine " << (e == GemmEngine::onednn ? "onednn" : "openblas") << "\n"
              << "name " << gemm_engine_name(e) << "\n"
              << "bits " << hash << "\n";
  } catch (const ValueError& e) {
    std::cout << "error " << e.what() << "\n";
    return 3;
  }
  return 0;
}
