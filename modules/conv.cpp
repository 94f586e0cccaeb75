// nn::Conv1d: PyTorch's parameters and init over functional::conv1d (src/ops/conv.cpp).
#include "ember/nn/conv.hpp"

#include <cmath>

#include "ember/nn/init.hpp"

namespace ember::nn {

Conv1d::Conv1d(const Conv1dOptions& options) : options_(options) {
  const auto& o = options_;
  EMBER_CHECK_VALUE(o.in_channels() > 0 && o.out_channels() > 0 && o.kernel_size() > 0,
                    "Conv1d: in_channels, out_channels and kernel_size must be positive, got ",
                    o.in_channels(), ", ", o.out_channels(), " and ", o.kernel_size());
  EMBER_CHECK_VALUE(
      o.groups() > 0 && o.in_channels() % o.groups() == 0 && o.out_channels() % o.groups() == 0,
      "Conv1d: in_channels ", o.in_channels(), " and out_channels ", o.out_channels(),
      " must be divisible by groups ", o.groups());
  EMBER_CHECK_VALUE(o.padding_mode() == "zeros", "Conv1d: padding_mode \"", o.padding_mode(),
                    "\" is not supported (only \"zeros\")");
  weight = register_parameter(
      "weight", zeros({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size()}));
  if (o.bias()) bias = register_parameter("bias", zeros({o.out_channels()}));
  reset_parameters();
}

void Conv1d::reset_parameters() {
  // PyTorch's _ConvNd default: kaiming_uniform_(a = sqrt(5)), bias U(-1/sqrt(fan_in), ..).
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double fan_in = static_cast<double>(weight.size(1) * weight.size(2));
    init::uniform_(bias, -1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in));
  }
}

Tensor Conv1d::forward(const Tensor& input) {
  EMBER_CHECK_SHAPE((input.dim() == 2 || input.dim() == 3) &&
                        input.size(input.dim() - 2) == options_.in_channels(),
                    "Conv1d: input shape ", detail::shape_str(input.shape()), " should be [N, ",
                    options_.in_channels(), ", L] or [", options_.in_channels(), ", L]");
  return functional::conv1d(input, weight,
                            functional::Conv1dFuncOptions()
                                .bias(bias)
                                .stride(options_.stride())
                                .padding(options_.padding())
                                .dilation(options_.dilation())
                                .groups(options_.groups()));
}

std::string Conv1d::extra_repr() const {
  const auto& o = options_;
  std::string s = std::to_string(o.in_channels()) + ", " + std::to_string(o.out_channels()) +
                  ", kernel_size=(" + std::to_string(o.kernel_size()) + ",), stride=(" +
                  std::to_string(o.stride()) + ",)";
  if (const auto* p = std::get_if<int64_t>(&o.padding())) {
    if (*p != 0) s += ", padding=(" + std::to_string(*p) + ",)";
  } else {
    s += ", padding=" + std::get<std::string>(o.padding());
  }
  if (o.dilation() != 1) s += ", dilation=(" + std::to_string(o.dilation()) + ",)";
  if (o.groups() != 1) s += ", groups=" + std::to_string(o.groups());
  if (!o.bias()) s += ", bias=False";
  return s;
}

}  // namespace ember::nn
