// gradcheck: compares autograd gradients with central differences, for ops and modules,
// Ember's own and users'. Only float inputs that require grad are perturbed; index inputs
// are captured by the function under test and left alone.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ember/autograd.hpp"
#include "ember/ops.hpp"

namespace ember {

struct GradcheckOptions {
  // The dtype the check runs in: float32 inputs are converted to it (and the function must
  // accept them: an op given float64 and float32 operands promotes, as PyTorch's). float64,
  // PyTorch's default, tells a wrong gradient from rounding; its steps and tolerances are
  // PyTorch's. With kFloat32, larger steps and tolerances (float32 rounding at eps = 1e-6
  // would swamp the difference) apply unless given.
  Dtype dtype = kFloat64;
  double eps = 0;     // 0: 1e-6 in float64, 1e-3 in float32
  double atol = 0;    // 0: 1e-5 in float64, 1e-3 in float32
  double rtol = 0;    // 0: 1e-3 in float64, 1e-2 in float32
  uint64_t seed = 7;  // seeds the random projection of the output
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // the first mismatch: input, element, analytic and numeric values
};

namespace detail {
// A tensor's values in row-major order as doubles, whatever its dtype and layout.
inline std::vector<double> values_as_double(const Tensor& t) {
  const Tensor d = t.to(kFloat64).contiguous();
  const double* first = d.data_ptr<double>();
  return std::vector<double>(first, first + d.numel());
}
}  // namespace detail

// Checks d(sum(f(inputs) * v))/d(input) for a fixed random v against central differences.
inline GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs,
                                 const GradcheckOptions& given = {}) {
  const bool in_double = given.dtype == kFloat64;
  GradcheckOptions options = given;
  if (options.eps == 0) options.eps = in_double ? 1e-6 : 1e-3;
  if (options.atol == 0) options.atol = in_double ? 1e-5 : 1e-3;
  if (options.rtol == 0) options.rtol = in_double ? 1e-3 : 1e-2;
  std::vector<Tensor> args;
  for (const Tensor& t : inputs) {
    Tensor copy = t.detach().clone();
    if (copy.is_floating_point() && copy.dtype() != given.dtype) copy = copy.to(given.dtype);
    args.push_back(copy.requires_grad_(t.requires_grad()));
  }
  const Tensor out = f(args);
  std::mt19937 gen(static_cast<unsigned>(options.seed));
  std::uniform_real_distribution<double> uniform(0.5, 1.5);
  std::vector<double> v(static_cast<size_t>(out.numel()));
  for (double& x : v) x = uniform(gen);
  const Tensor projection = tensor(v, out.shape(), out.dtype());
  sum(out * projection).backward();

  auto projected = [&]() {
    NoGradGuard no_grad;
    const std::vector<double> values = detail::values_as_double(f(args));
    double total = 0;
    for (size_t i = 0; i < values.size(); ++i) total += values[i] * v[i];
    return total;
  };
  GradcheckResult result;
  for (size_t k = 0; k < args.size(); ++k) {
    if (!args[k].requires_grad()) continue;
    const std::vector<double> analytic =
        args[k].grad().defined() ? detail::values_as_double(args[k].grad()) : std::vector<double>();
    // Element i is set through the input's storage (args are fresh contiguous copies).
    auto set = [&](size_t i, double value) {
      NoGradGuard no_grad;
      args[k].bump_version();
      if (args[k].dtype() == kFloat64)
        const_cast<double*>(args[k].data_ptr<double>())[i] = value;
      else
        const_cast<float*>(args[k].data_ptr())[i] = static_cast<float>(value);
    };
    const std::vector<double> values = detail::values_as_double(args[k]);
    for (size_t i = 0; i < values.size(); ++i) {
      const double saved = values[i];
      set(i, saved + options.eps);
      double plus = projected();
      set(i, saved - options.eps);
      double minus = projected();
      set(i, saved);
      double numeric = (plus - minus) / (2 * options.eps);
      double got = analytic.empty() ? 0.0 : analytic[i];
      if (std::abs(got - numeric) > options.atol + options.rtol * std::abs(numeric)) {
        std::ostringstream msg;
        msg << "gradcheck (" << dtype_name(args[k].dtype()) << "): input " << k << " element " << i
            << ": autograd " << got << ", finite differences " << numeric;
        return {false, msg.str()};
      }
    }
  }
  return result;
}

}  // namespace ember
