// nn::init: the initialisers PyTorch users know, with the same fan computations.
#include "ember/nn/init.hpp"

#include <cmath>
#include <random>

#include "ember/autograd.hpp"

namespace ember::nn::init {

namespace {
struct Fans {
  double in, out;
};

Fans fans(const Tensor& t, const char* op) {
  EMBER_CHECK_SHAPE(t.dim() >= 2, op, ": fan in and fan out need at least 2 dims, got shape ",
                    detail::shape_str(t.shape()));
  double receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= static_cast<double>(t.size(d));
  return {static_cast<double>(t.size(1)) * receptive, static_cast<double>(t.size(0)) * receptive};
}

std::mt19937_64& shared_engine() {
  // Seeded from the tensor generator each call, so manual_seed governs init too.
  thread_local std::mt19937_64 engine;
  engine.seed(random_u64());
  return engine;
}
// Init fills the values through the tensor's layout: a parameter that is a view of a larger
// tensor is initialised in place, as in PyTorch. Counts as one in-place write. fill() draws a
// double, stored in the tensor's dtype (float32 rounds it, float64 keeps it).
template <class Fill>
void fill_values(Tensor& t, const char* op, Fill fill) {
  EMBER_CHECK_DTYPE(t.dtype() == kFloat32 || t.dtype() == kFloat64, op, ": got a ",
                    dtype_name(t.dtype()), " tensor; init fills float32 or float64 tensors");
  NoGradGuard no_grad;
  auto fill_as = [&](auto real) {
    using T = decltype(real);
    ValuesForWriteOf<T> values(t);
    for (T& v : values) v = static_cast<T>(fill());
  };
  if (t.dtype() == kFloat64)
    fill_as(double{});
  else
    fill_as(float{});
}
}  // namespace

Tensor& uniform_(Tensor& t, double low, double high) {
  EMBER_CHECK_VALUE(low <= high, "uniform_: low ", low, " is greater than high ", high);
  std::uniform_real_distribution<double> dist(low, high);
  auto& engine = shared_engine();
  fill_values(t, "uniform_", [&] { return dist(engine); });
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std) {
  EMBER_CHECK_VALUE(std >= 0, "normal_: std must be non-negative, got ", std);
  std::normal_distribution<double> dist(mean, std);
  auto& engine = shared_engine();
  fill_values(t, "normal_", [&] { return dist(engine); });
  return t;
}

Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }

Tensor& constant_(Tensor& t, double value) {
  fill_values(t, "constant_", [value] { return value; });
  return t;
}

Tensor& xavier_uniform_(Tensor& t, double gain) {
  Fans f = fans(t, "xavier_uniform_");
  double bound = gain * std::sqrt(6.0 / (f.in + f.out));
  return uniform_(t, -bound, bound);
}

Tensor& kaiming_uniform_(Tensor& t, double a, const std::string& mode,
                         const std::string& nonlinearity) {
  Fans f = fans(t, "kaiming_uniform_");
  EMBER_CHECK_VALUE(mode == "fan_in" || mode == "fan_out", "kaiming_uniform_: mode must be ",
                    "'fan_in' or 'fan_out', got '", mode, "'");
  double gain;
  if (nonlinearity == "leaky_relu")
    gain = std::sqrt(2.0 / (1 + a * a));
  else if (nonlinearity == "relu")
    gain = std::sqrt(2.0);
  else if (nonlinearity == "linear" || nonlinearity == "sigmoid")
    gain = 1.0;
  else if (nonlinearity == "tanh")
    gain = 5.0 / 3.0;
  else
    throw ValueError("kaiming_uniform_: unsupported nonlinearity '" + nonlinearity + "'");
  double fan = mode == "fan_in" ? f.in : f.out;
  double bound = gain * std::sqrt(3.0 / fan);
  return uniform_(t, -bound, bound);
}

}  // namespace ember::nn::init
