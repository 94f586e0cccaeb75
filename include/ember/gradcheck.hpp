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
  double eps = 1e-3;  // float32 data: larger steps than PyTorch's float64 default
  double atol = 1e-3;
  double rtol = 1e-2;
  uint64_t seed = 7;  // seeds the random projection of the output
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // the first mismatch: input, element, analytic and numeric values
};

// Checks d(sum(f(inputs) * v))/d(input) for a fixed random v against central differences.
inline GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs,
                                 const GradcheckOptions& options = {}) {
  std::vector<Tensor> args;
  for (const Tensor& t : inputs)
    args.push_back(t.detach().clone().requires_grad_(t.requires_grad()));
  const Tensor out = f(args);
  std::mt19937 gen(static_cast<unsigned>(options.seed));
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  Array v = Array::from_shape(out.data().shape());
  for (float& x : v) x = uniform(gen);
  Tensor projection(v);
  sum(out * projection).backward();

  auto projected = [&]() {
    NoGradGuard no_grad;
    const Tensor y = f(args);
    double total = 0;
    const std::vector<float> values = y.to_vector();  // row-major, whatever y's layout
    for (size_t i = 0; i < values.size(); ++i) total += double(values[i]) * v.data()[i];
    return total;
  };
  GradcheckResult result;
  for (size_t k = 0; k < args.size(); ++k) {
    if (!args[k].requires_grad()) continue;
    const std::vector<float> analytic =
        args[k].grad().defined() ? args[k].grad().to_vector() : std::vector<float>();
    // Element i is set through the input's layout, so an input that is a view is perturbed too.
    auto set = [&](size_t i, float value) {
      NoGradGuard no_grad;
      ValuesForWrite x(args[k]);
      x.data()[i] = value;
    };
    const std::vector<float> values = args[k].to_vector();
    for (size_t i = 0; i < values.size(); ++i) {
      const float saved = values[i];
      set(i, saved + static_cast<float>(options.eps));
      double plus = projected();
      set(i, saved - static_cast<float>(options.eps));
      double minus = projected();
      set(i, saved);
      double numeric = (plus - minus) / (2 * options.eps);
      double got = analytic.empty() ? 0.0 : analytic[i];
      if (std::abs(got - numeric) > options.atol + options.rtol * std::abs(numeric)) {
        std::ostringstream msg;
        msg << "gradcheck: input " << k << " element " << i << ": autograd " << got
            << ", finite differences " << numeric;
        return {false, msg.str()};
      }
    }
  }
  return result;
}

}  // namespace ember
