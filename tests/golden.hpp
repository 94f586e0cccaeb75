// Reads the golden values written by golden/make_golden*.py and compares tensors against them,
// in float32 or float64 (golden/float64_*.txt).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <ember/ember.hpp>
#include <fstream>
#include <initializer_list>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace golden {

struct Value {
  ember::Shape shape;
  std::vector<double> values;

  ember::Tensor tensor(bool requires_grad = false, ember::Dtype dtype = ember::kFloat32) const {
    if (dtype == ember::kFloat32)
      return ember::tensor(std::vector<float>(values.begin(), values.end()), shape, requires_grad);
    return ember::tensor(values, shape, dtype, requires_grad);
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

// A tensor's values in row-major order: a float64 tensor's exactly, read through its strides
// where they sit (a view too); any other dtype's through to_vector (bool as 0/1).
inline std::vector<double> values_of(const ember::Tensor& t) {
  if (t.dtype() != ember::kFloat64) {
    std::vector<float> f = t.to_vector();
    return {f.begin(), f.end()};
  }
  const ember::Shape shape = t.shape(), strides = t.strides();
  const double* first = t.data_ptr<double>();
  std::vector<double> out;
  out.reserve(size_t(t.numel()));
  std::vector<int64_t> at(shape.size(), 0);
  for (int64_t n = 0; n < t.numel(); ++n) {
    int64_t offset = 0;
    for (size_t d = 0; d < shape.size(); ++d) offset += at[d] * strides[d];
    out.push_back(first[offset]);
    for (size_t d = shape.size(); d-- > 0 && ++at[d] == shape[d];) at[d] = 0;
  }
  return out;
}

// allclose(rtol = 1e-5, atol = 1e-6), as the acceptance lines ask, element by element.
inline void check_close(const ember::Tensor& got, const Value& want, const std::string& what,
                        double rtol = 1e-5, double atol = 1e-6) {
  INFO(what);
  REQUIRE(got.defined());
  CHECK(ember::detail::shape_str(got.shape()) == ember::detail::shape_str(want.shape));
  std::vector<double> g = values_of(got);
  REQUIRE(g.size() == want.values.size());
  for (size_t i = 0; i < g.size(); ++i) {
    double diff = std::abs(g[i] - want.values[i]);
    if (diff > atol + rtol * std::abs(want.values[i])) {
      std::ostringstream message;  // 17 digits: a float64 difference shows
      message << std::setprecision(17) << what << " element " << i << ": got " << g[i]
              << ", PyTorch " << want.values[i];
      FAIL_CHECK(message.str());
      return;
    }
  }
}

// float64 against a float64 PyTorch reference (golden/float64_*.txt, 17 digits): rtol 1e-10
// and atol 1e-12. Each side carries only float64 rounding (about 1e-16 per operation), so a
// difference above 1e-10 relative is a float32 step somewhere (float32 rounding is 6e-8) or a
// different formula; the absolute 1e-12 is for the elements that cancel to about zero.
inline constexpr double kRtol64 = 1e-10, kAtol64 = 1e-12;

// check_close at the tolerance of `dtype`: float32's above, or float64's (and the result must
// be a float64 tensor: an op that computes in float32 is caught by its dtype first).
inline void check_close(const ember::Tensor& got, const Value& want, const std::string& what,
                        ember::Dtype dtype) {
  if (dtype == ember::kFloat32) return check_close(got, want, what);
  REQUIRE_MESSAGE(got.defined(), what);
  if (got.dtype() != dtype) {
    const std::string message =
        what + " is " + ember::dtype_name(got.dtype()) + ", not " + ember::dtype_name(dtype);
    FAIL_CHECK(message);
    return;
  }
  check_close(got, want, what, kRtol64, kAtol64);
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

// A case's float inputs x0, x1, ... (as leaves of `dtype` that require grad) and index inputs
// idx0, ...
inline std::vector<ember::Tensor> float_inputs(const Case& c,
                                               ember::Dtype dtype = ember::kFloat32) {
  std::vector<ember::Tensor> x;
  for (int k = 0; c.count("x" + std::to_string(k)); ++k)
    x.push_back(c.at("x" + std::to_string(k)).tensor(true, dtype));
  return x;
}
inline std::vector<ember::IndexTensor> index_inputs(const Case& c) {
  std::vector<ember::IndexTensor> idx;
  for (int k = 0; c.count("idx" + std::to_string(k)); ++k)
    idx.push_back(c.at("idx" + std::to_string(k)).index());
  return idx;
}

// Checks that `file` holds `expected` cases, and runs body(name, case) for each
// as a doctest subcase named after it: an exception (an op that refuses the dtype, say) fails
// that case with its message, and the next cases still run.
template <class Body>
void for_each_case(const File& file, size_t expected, Body&& body) {
  CHECK(file.size() == expected);
  for (const auto& [name, c] : file) {
    SUBCASE(name.c_str()) {
      try {
        body(name, c);
      } catch (const std::exception& e) {
        const std::string message = name + " threw: " + e.what();
        FAIL_CHECK(message);
      }
    }
  }
}

// The same over the golden file `file_name`.
template <class Body>
void for_each_case(const std::string& file_name, size_t expected, Body&& body) {
  for_each_case(load(file_name), expected, body);
}

// The cases of `file` whose names start with one of `prefixes`.
inline File cases_starting_with(const File& file, std::initializer_list<const char*> prefixes) {
  File some;
  for (const auto& [name, c] : file)
    for (const char* prefix : prefixes)
      if (name.rfind(prefix, 0) == 0) some[name] = c;
  return some;
}

// Backpropagates the case's gout (in `dtype`) through `out` and checks each input's gradient
// (grad0, ...) at that dtype's tolerance.
inline void check_input_grads(const ember::Tensor& out, const std::vector<ember::Tensor>& x,
                              const Case& c, const std::string& name,
                              ember::Dtype dtype = ember::kFloat32) {
  out.backward(c.at("gout").tensor(false, dtype));
  for (size_t k = 0; k < x.size(); ++k)
    check_close(x[k].grad(), c.at("grad" + std::to_string(k)), name + " grad" + std::to_string(k),
                dtype);
}

// Loads every "<prefix><name>" value of a case with a strict load_state_dict: names and shapes
// must be PyTorch's. The values are read as `dtype` (a float64 module's from a float64 file).
inline void load_params(ember::nn::Module& m, const Case& c, const std::string& prefix,
                        ember::Dtype dtype = ember::kFloat32) {
  ember::StateDict dict;
  for (const auto& [key, value] : c)
    if (key.rfind(prefix, 0) == 0) dict[key.substr(prefix.size())] = value.tensor(false, dtype);
  m.load_state_dict(dict);
}

}  // namespace golden
