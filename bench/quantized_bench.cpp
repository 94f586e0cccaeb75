// float32 vs int8 dynamic inference of Linear and LSTM (issue 22): the same layer, float and
// quantized with nn::quantize_dynamic, timed in interleaved runs on 1 and 2 threads; each figure
// is the median of the runs. bench/quantized_bench_torch.py times PyTorch 1.13 on the same shapes.
//   build-bench/bench/ember_quantized_bench [--runs=N] [--only=SUBSTRING]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ember/ember.hpp>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.hpp"

using namespace ember;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// Seconds per call of f: as many calls as fill ~30 ms, once.
double seconds_per_call(const std::function<void()>& f) {
  using clock = std::chrono::steady_clock;
  int calls = 1;
  for (;;) {
    auto t0 = clock::now();
    for (int i = 0; i < calls; ++i) f();
    double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s > 0.03 || calls > (1 << 20)) return s / calls;
    calls *= s < 0.003 ? 10 : 2;
  }
}

struct Case {
  std::string name;
  std::function<void()> fp32, int8;
};

void run(const std::vector<Case>& cases, int runs, const std::string& only) {
  std::printf("%-52s %7s %9s %9s %8s\n", "shape", "threads", "fp32 ms", "int8 ms", "speed-up");
  for (const Case& c : cases)
    for (int threads : {1, 2}) {
      if (c.name.find(only) == std::string::npos) continue;
      set_num_threads(threads);
      c.fp32();  // warm-up: oneDNN's JIT, buffers
      c.int8();
      std::vector<double> f, q;
      for (int r = 0; r < runs; ++r) {  // interleaved, so drift hits both sides alike
        f.push_back(seconds_per_call(c.fp32));
        q.push_back(seconds_per_call(c.int8));
      }
      double mf = bench::median(f) * 1e3, mq = bench::median(q) * 1e3;
      std::printf("%-52s %7d %9.3f %9.3f %7.2fx\n", c.name.c_str(), threads, mf, mq, mf / mq);
      std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 7;
  std::string only;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--runs=", 7) == 0)
      runs = std::atoi(argv[i] + 7);
    else if (std::strncmp(argv[i], "--only=", 7) == 0)
      only = argv[i] + 7;
  std::printf("cpu: %s\nfloat32 GEMM: %s\nint8 GEMM: %s; VNNI %s; inputs on %s bits\n",
              cpu_model().c_str(), gemm_engine_name(get_gemm_engine()).c_str(),
              quantized::int8_engine_name().c_str(), quantized::cpu_has_vnni() ? "yes" : "no",
              quantized::default_reduce_range() ? "7" : "8");
  std::printf("median of %d interleaved runs; no grad recorded on either side\n\n", runs);
  NoGradGuard no_grad;
  manual_seed(22);
  std::vector<Case> cases;
  // Each case owns its layers: a float one, and a second with the same weights, quantized.
  struct LinearPair {
    nn::Linear fp32, int8;
    Tensor x;
  };
  std::vector<std::shared_ptr<LinearPair>> linears;
  for (auto [batch, in, out, what] :
       std::vector<std::tuple<int64_t, int64_t, int64_t, std::string>>{
           {64, 768, 3072, "BERT FFN"},
           {512, 1024, 1024, ""},
           {32, 64, 128, "classifier fc1 (bag)"},
           {1024, 64, 128, "classifier fc1, 1024 sentences"},
           {32, 128, 4, "classifier fc2"}}) {
    auto p = std::make_shared<LinearPair>(LinearPair{nn::Linear(in, out), nn::Linear(in, out), {}});
    p->int8.load_state_dict(p->fp32.state_dict());
    nn::quantize_dynamic(p->int8);
    p->x = randn({batch, in});
    linears.push_back(p);
    std::string name = "Linear " + std::to_string(batch) + "x" + std::to_string(in) + "->" +
                       std::to_string(out) + (what.empty() ? "" : " (" + what + ")");
    cases.push_back({name, [p] { p->fp32(p->x); }, [p] { p->int8(p->x); }});
  }
  struct LstmPair {
    nn::LSTM fp32, int8;
    Tensor x;
  };
  for (auto [batch, steps, in, hidden, what] :
       std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, std::string>>{
           {32, 64, 256, 512, ""}, {32, 32, 64, 128, "classifier lstm"}}) {
    auto options = nn::LSTMOptions(in, hidden).batch_first(true);
    auto p = std::make_shared<LstmPair>(LstmPair{nn::LSTM(options), nn::LSTM(options), {}});
    p->int8.load_state_dict(p->fp32.state_dict());
    nn::quantize_dynamic(p->int8);
    p->x = randn({batch, steps, in});
    std::string name = "LSTM B=" + std::to_string(batch) + " T=" + std::to_string(steps) +
                       " I=" + std::to_string(in) + " H=" + std::to_string(hidden) +
                       (what.empty() ? "" : " (" + what + ")");
    cases.push_back({name, [p] { p->fp32(p->x); }, [p] { p->int8(p->x); }});
  }
  run(cases, runs, only);
  return 0;
}
