// AdamW's step over 124M float32 parameters (GPT-2 124M's count), alone and writing autocast's
// bfloat16 copy of the weights in the same pass (optim/rounded_copies.hpp): what the copy adds
// to a training step. Two parameters of one shape, one with a copy (made by a linear under
// autocast), one without; their steps alternate, each figure the median of 7.
//   ember_adamw_copy_bench [threads] [rounds]
// There is no LibTorch twin: PyTorch's AdamW writes no bfloat16 copy (its autocast casts each
// weight in the forward).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ember/ember.hpp>
#include <vector>

#include "bench_common.hpp"

using namespace ember;

int main(int argc, char** argv) {
  set_num_threads(argc > 1 ? std::atoi(argv[1]) : 1);
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const int64_t rows = 16384, cols = 7568;  // 124.0M parameters
  Tensor with = randn({rows, cols}).requires_grad_(true);
  Tensor without = randn({rows, cols}).requires_grad_(true);
  {
    autocast::Guard guard(kBFloat16);
    Tensor made_the_copy = linear(randn({2, cols}), with);
  }
  with.set_grad(randn({rows, cols}));
  without.set_grad(randn({rows, cols}));
  optim::AdamW step_with({with}, optim::AdamWOptions(1e-4));
  optim::AdamW step_without({without}, optim::AdamWOptions(1e-4));
  std::printf("threads %d autocast_products %s\n", get_num_threads(),
              autocast::products() == autocast::Products::float32 ? "float32" : "bf16");
  for (int r = 0; r < rounds; ++r)
    for (optim::AdamW* o : {&step_without, &step_with}) {
      std::vector<double> ms;
      for (int i = 0; i < 7; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        o->step();
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      std::printf("adamw_step_ms %.1f %s\n", bench::median(ms),
                  o == &step_with ? "with_copy" : "alone");
    }
}
