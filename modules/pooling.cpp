// Pooling layers: shells over the functional pools of src/ops/pooling.cpp.
#include <sstream>

#include "ember/nn/conv.hpp"

namespace ember::nn {

Tensor MaxPool1d::forward(const Tensor& x) { return functional::max_pool1d(x, options_); }
Tensor AvgPool1d::forward(const Tensor& x) { return functional::avg_pool1d(x, options_); }
Tensor AdaptiveMaxPool1d::forward(const Tensor& x) {
  return functional::adaptive_max_pool1d(x, output_size_);
}
Tensor AdaptiveAvgPool1d::forward(const Tensor& x) {
  return functional::adaptive_avg_pool1d(x, output_size_);
}

std::string MaxPool1d::extra_repr() const {
  std::ostringstream s;
  s << "kernel_size=" << options_.kernel_size()
    << ", stride=" << (options_.stride() > 0 ? options_.stride() : options_.kernel_size())
    << ", padding=" << options_.padding() << ", dilation=" << options_.dilation()
    << ", ceil_mode=" << (options_.ceil_mode() ? "True" : "False");
  return s.str();
}

std::string AvgPool1d::extra_repr() const {
  std::ostringstream s;
  s << "kernel_size=(" << options_.kernel_size() << ",), stride=("
    << (options_.stride() > 0 ? options_.stride() : options_.kernel_size()) << ",), padding=("
    << options_.padding() << ",)";
  return s.str();
}

std::string AdaptiveMaxPool1d::extra_repr() const {
  return "output_size=" + std::to_string(output_size_);
}
std::string AdaptiveAvgPool1d::extra_repr() const {
  return "output_size=" + std::to_string(output_size_);
}

}  // namespace ember::nn
