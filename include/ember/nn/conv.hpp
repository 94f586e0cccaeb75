// 1-D convolution and pooling over [N, C, L] (or unbatched [C, L]) inputs, with PyTorch's
// options, parameter names ("weight" [C_out, C_in / groups, K], "bias") and default init.
#pragma once

#include <string>
#include <variant>

#include "ember/nn/module.hpp"
#include "ember/options.hpp"

namespace ember::nn {

// An explicit padding on both sides, or "same" (stride 1; output length = input length, the
// odd pad on the right as PyTorch) or "valid" (0).
using Conv1dPadding = std::variant<int64_t, std::string>;

struct Conv1dOptions {
  Conv1dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  EMBER_ARG(int64_t, in_channels);
  EMBER_ARG(int64_t, out_channels);
  EMBER_ARG(int64_t, kernel_size);
  EMBER_ARG(int64_t, stride) = 1;
  EMBER_ARG(Conv1dPadding, padding) = int64_t{0};
  EMBER_ARG(int64_t, dilation) = 1;
  EMBER_ARG(int64_t, groups) = 1;
  EMBER_ARG(bool, bias) = true;
  EMBER_ARG(std::string, padding_mode) = "zeros";  // the only mode
};

struct MaxPool1dOptions {
  MaxPool1dOptions(int64_t kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: as LibTorch
  EMBER_ARG(int64_t, kernel_size);
  EMBER_ARG(int64_t, stride) = 0;  // 0: kernel_size
  EMBER_ARG(int64_t, padding) = 0;
  EMBER_ARG(int64_t, dilation) = 1;
  EMBER_ARG(bool, ceil_mode) = false;
};

struct AvgPool1dOptions {
  AvgPool1dOptions(int64_t kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: as LibTorch
  EMBER_ARG(int64_t, kernel_size);
  EMBER_ARG(int64_t, stride) = 0;  // 0: kernel_size
  EMBER_ARG(int64_t, padding) = 0;
  EMBER_ARG(bool, ceil_mode) = false;
  EMBER_ARG(bool, count_include_pad) = true;
};

namespace functional {

struct Conv1dFuncOptions {
  EMBER_ARG(Tensor, bias) = Tensor();
  EMBER_ARG(int64_t, stride) = 1;
  EMBER_ARG(Conv1dPadding, padding) = int64_t{0};
  EMBER_ARG(int64_t, dilation) = 1;
  EMBER_ARG(int64_t, groups) = 1;
};
using MaxPool1dFuncOptions = MaxPool1dOptions;
using AvgPool1dFuncOptions = AvgPool1dOptions;

// im2col + one gemm per sample and group; backward: two gemms and a col2im.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Conv1dFuncOptions& options = {});
Tensor max_pool1d(const Tensor& input, const MaxPool1dFuncOptions& options);
Tensor avg_pool1d(const Tensor& input, const AvgPool1dFuncOptions& options);
// Output bin i covers [floor(i L / out), ceil((i + 1) L / out)).
Tensor adaptive_max_pool1d(const Tensor& input, int64_t output_size);
Tensor adaptive_avg_pool1d(const Tensor& input, int64_t output_size);

}  // namespace functional

class Conv1d : public TensorModule {
 public:
  explicit Conv1d(const Conv1dOptions& options);
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : Conv1d(Conv1dOptions(in_channels, out_channels, kernel_size)) {}
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;
  const Conv1dOptions& options() const { return options_; }

  Tensor weight;  // [out_channels, in_channels / groups, kernel_size]
  Tensor bias;    // [out_channels], undefined without bias

 private:
  Conv1dOptions options_;
};

class MaxPool1d : public TensorModule {
 public:
  explicit MaxPool1d(const MaxPool1dOptions& options) : options_(options) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  MaxPool1dOptions options_;
};

class AvgPool1d : public TensorModule {
 public:
  explicit AvgPool1d(const AvgPool1dOptions& options) : options_(options) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  AvgPool1dOptions options_;
};

class AdaptiveMaxPool1d : public TensorModule {
 public:
  explicit AdaptiveMaxPool1d(int64_t output_size) : output_size_(output_size) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  int64_t output_size_;
};

class AdaptiveAvgPool1d : public TensorModule {
 public:
  explicit AdaptiveAvgPool1d(int64_t output_size) : output_size_(output_size) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  int64_t output_size_;
};

}  // namespace ember::nn
