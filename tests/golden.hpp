// Reads the golden values written by golden/make_golden.py and compares tensors against them.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ember/ember.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace golden {

struct Value {
  ember::Shape shape;
  std::vector<double> values;

  ember::Tensor tensor(bool requires_grad = false) const {
    return ember::tensor(std::vector<float>(values.begin(), values.end()), shape, requires_grad);
  }
  ember::IndexTensor index() const {
    return ember::IndexTensor(std::vector<int64_t>(values.begin(), values.end()), shape);
  }
};

using Case = std::map<std::string, Value>;
using File = std::map<std::string, Case>;

inline File load(const std::string& name) {
  std::ifstream in(std::string(EMBER_GOLDEN_DIR) + "/" + name);
  REQUIRE_MESSAGE(in.good(), "golden file missing: ", name);
  File file;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string case_name, key, shape;
    fields >> case_name >> key >> shape;
    Value v;
    if (shape != "-") {
      std::istringstream dims(shape);
      std::string d;
      while (std::getline(dims, d, ',')) v.shape.push_back(std::stoll(d));
    }
    std::string x;  // std::stod reads "-inf" (attention masks), which >> double does not
    while (fields >> x) v.values.push_back(std::stod(x));
    file[case_name][key] = std::move(v);
  }
  return file;
}

// allclose(rtol = 1e-5, atol = 1e-6), as the acceptance lines ask, element by element.
inline void check_close(const ember::Tensor& got, const Value& want, const std::string& what,
                        double rtol = 1e-5, double atol = 1e-6) {
  INFO(what);
  REQUIRE(got.defined());
  CHECK(ember::detail::shape_str(got.shape()) == ember::detail::shape_str(want.shape));
  std::vector<float> g = got.to_vector();
  REQUIRE(g.size() == want.values.size());
  for (size_t i = 0; i < g.size(); ++i) {
    double diff = std::abs(double(g[i]) - want.values[i]);
    if (diff > atol + rtol * std::abs(want.values[i])) {
      FAIL_CHECK(what << " element " << i << ": got " << g[i] << ", PyTorch " << want.values[i]);
      return;
    }
  }
}

// rtol 1e-5 element by element, with an absolute floor of 1e-5 of the tensor's largest
// element: a gradient summed over many terms that cancel (an attention key bias gets exactly
// zero) keeps float32 rounding of that size, whichever order the sum runs in.
inline void check_close_scaled(const ember::Tensor& got, const Value& want,
                               const std::string& what) {
  double largest = 0;
  for (double v : want.values) largest = std::max(largest, std::abs(v));
  check_close(got, want, what, 1e-5, std::max(1e-6, 1e-5 * largest));
}

// A case's float inputs x0, x1, ... (as leaves that require grad) and index inputs idx0, ...
inline std::vector<ember::Tensor> float_inputs(const Case& c) {
  std::vector<ember::Tensor> x;
  for (int k = 0; c.count("x" + std::to_string(k)); ++k)
    x.push_back(c.at("x" + std::to_string(k)).tensor(true));
  return x;
}
inline std::vector<ember::IndexTensor> index_inputs(const Case& c) {
  std::vector<ember::IndexTensor> idx;
  for (int k = 0; c.count("idx" + std::to_string(k)); ++k)
    idx.push_back(c.at("idx" + std::to_string(k)).index());
  return idx;
}

// Backpropagates the case's gout through `out` and checks each input's gradient (grad0, ...).
inline void check_input_grads(const ember::Tensor& out, const std::vector<ember::Tensor>& x,
                              const Case& c, const std::string& name) {
  out.backward(c.at("gout").tensor());
  for (size_t k = 0; k < x.size(); ++k)
    check_close(x[k].grad(), c.at("grad" + std::to_string(k)), name + " grad" + std::to_string(k));
}

// Loads every "<prefix><name>" value of a case with a strict load_state_dict: names and shapes
// must be PyTorch's.
inline void load_params(ember::nn::Module& m, const Case& c, const std::string& prefix) {
  ember::StateDict dict;
  for (const auto& [key, value] : c)
    if (key.rfind(prefix, 0) == 0) dict[key.substr(prefix.size())] = value.tensor();
  m.load_state_dict(dict);
}

}  // namespace golden
