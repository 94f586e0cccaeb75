// Reads the golden values written by golden/make_golden.py and compares tensors against them.
#pragma once

#include <doctest/doctest.h>

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

}  // namespace golden
