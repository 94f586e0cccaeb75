// Conv1d and the 1-D poolings against PyTorch 1.13 (golden/attention.txt), a PyTorch-trained
// CNN loaded from safetensors, gradcheck, and the errors a user can cause.
#include "golden.hpp"
#include "gradcheck.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
const golden::File& conv_file() {
  static const golden::File file = golden::load("attention.txt");
  return file;
}

}  // namespace

TEST_CASE("golden: Conv1d with stride, padding, same, dilation, groups, no bias, unbatched") {
  struct Config {
    const char* name;
    nn::Conv1dOptions options;
  };
  const Config configs[] = {
      {"conv_plain", nn::Conv1dOptions(4, 6, 3)},
      {"conv_stride_pad", nn::Conv1dOptions(4, 6, 3).stride(2).padding(int64_t{1})},
      {"conv_dilation", nn::Conv1dOptions(4, 6, 3).dilation(2).padding(int64_t{2})},
      {"conv_groups", nn::Conv1dOptions(4, 6, 3).groups(2).stride(2)},
      {"conv_same_even_kernel", nn::Conv1dOptions(4, 6, 4).padding("same")},
      {"conv_same_dilation", nn::Conv1dOptions(4, 6, 3).padding("same").dilation(2).groups(2)},
      {"conv_no_bias", nn::Conv1dOptions(4, 6, 1).bias(false)},
      {"conv_unbatched", nn::Conv1dOptions(4, 6, 3).padding(int64_t{1})},
  };
  for (const Config& config : configs) {
    SUBCASE(config.name) {
      const golden::Case& c = conv_file().at(config.name);
      nn::Conv1d conv(config.options);
      golden::load_params(conv, c, "param.");
      Tensor x = c.at("x").tensor(true);
      Tensor out = conv(x);
      golden::check_close(out, c.at("out"), "out");
      out.backward(c.at("gout").tensor());
      golden::check_close_scaled(x.grad(), c.at("grad_x"), "grad_x");
      golden::check_close_scaled(conv.weight.grad(), c.at("grad.weight"), "grad.weight");
      if (conv.bias.defined())
        golden::check_close_scaled(conv.bias.grad(), c.at("grad.bias"), "grad.bias");
    }
  }
}

TEST_CASE("golden: MaxPool1d, AvgPool1d and the adaptive pools") {
  struct Config {
    const char* name;
    std::function<Tensor(const Tensor&)> pool;
  };
  const Config configs[] = {
      {"maxpool_k3_s2_p1",
       [](const Tensor& x) {
         return nn::MaxPool1d(nn::MaxPool1dOptions(3).stride(2).padding(1))(x);
       }},
      {"maxpool_k2_default_stride", [](const Tensor& x) { return nn::MaxPool1d(2)(x); }},
      {"maxpool_dilation_ceil",
       [](const Tensor& x) {
         return F::max_pool1d(x, F::MaxPool1dFuncOptions(2).stride(2).dilation(2).ceil_mode(true));
       }},
      {"avgpool_k3_s2_p1",
       [](const Tensor& x) {
         return nn::AvgPool1d(nn::AvgPool1dOptions(3).stride(2).padding(1))(x);
       }},
      {"avgpool_no_pad_count",
       [](const Tensor& x) {
         return F::avg_pool1d(
             x, F::AvgPool1dFuncOptions(3).stride(2).padding(1).count_include_pad(false));
       }},
      {"avgpool_ceil",
       [](const Tensor& x) {
         return F::avg_pool1d(x, F::AvgPool1dFuncOptions(3).stride(2).ceil_mode(true));
       }},
      {"adaptive_max_7_to_3", [](const Tensor& x) { return nn::AdaptiveMaxPool1d(3)(x); }},
      {"adaptive_avg_7_to_3", [](const Tensor& x) { return nn::AdaptiveAvgPool1d(3)(x); }},
      {"adaptive_avg_10_to_4_unbatched",
       [](const Tensor& x) { return F::adaptive_avg_pool1d(x, 4); }},
  };
  for (const Config& config : configs) {
    SUBCASE(config.name) {
      const golden::Case& c = conv_file().at(config.name);
      Tensor x = c.at("x").tensor(true);
      Tensor out = config.pool(x);
      golden::check_close(out, c.at("out"), "out");
      out.backward(c.at("gout").tensor());
      golden::check_close_scaled(x.grad(), c.at("grad_x"), "grad_x");
    }
  }
}

TEST_CASE("golden: a CNN trained in PyTorch loads strictly from safetensors and agrees") {
  struct ConvNet : nn::Module {
    nn::Conv1d conv{nn::Conv1dOptions(4, 6, 3).padding("same")};
    nn::AdaptiveMaxPool1d pool{1};
    nn::Linear fc{6, 2};
    ConvNet() {
      register_module("conv", conv);
      register_module("pool", pool);
      register_module("fc", fc);
    }
    Tensor forward(const Tensor& x) { return fc(pool(relu(conv(x))).squeeze(-1)); }
  } model;
  model.load_state_dict(io::load(std::string(EMBER_GOLDEN_DIR) + "/trained_conv.safetensors"));
  const golden::Case& c = conv_file().at("trained_conv");
  golden::check_close(model.forward(c.at("x").tensor()), c.at("out"), "out");
}

TEST_CASE("gradcheck: conv1d and the pools") {
  manual_seed(4);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& x) {
        return F::conv1d(
            x[0], x[1],
            F::Conv1dFuncOptions().bias(x[2]).stride(2).padding(int64_t{1}).dilation(2).groups(2));
      },
      {randn({2, 4, 7}, true), randn({4, 2, 2}, true), randn({4}, true)});
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& x) {
        return F::max_pool1d(x[0], F::MaxPool1dFuncOptions(3).stride(2).padding(1));
      },
      {randn({2, 2, 7}, true)});
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& x) {
        return F::avg_pool1d(x[0], F::AvgPool1dFuncOptions(3).stride(2).padding(1));
      },
      {randn({2, 2, 7}, true)});
  CHECK_GRADCHECK([](const std::vector<Tensor>& x) { return F::adaptive_max_pool1d(x[0], 3); },
                  {randn({2, 2, 7}, true)});
  CHECK_GRADCHECK([](const std::vector<Tensor>& x) { return F::adaptive_avg_pool1d(x[0], 3); },
                  {randn({2, 2, 7}, true)});
}

TEST_CASE("conv and pool errors name the layer and the values") {
  nn::Conv1d conv(nn::Conv1dOptions(4, 6, 5));
  CHECK_THROWS_WITH_AS(conv(zeros({2, 3, 9})),
                       "Conv1d: input shape [2,3,9] should be [N, 4, L] or [4, L]", ShapeError);
  CHECK_THROWS_WITH_AS(conv(zeros({2, 4, 3})),
                       "conv1d: kernel size 5 (dilation 1, spanning 5) is larger than the padded "
                       "input length 3",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nn::Conv1d(nn::Conv1dOptions(4, 6, 3).groups(3)),
                       "Conv1d: in_channels 4 and out_channels 6 must be divisible by groups 3",
                       ValueError);
  CHECK_THROWS_WITH_AS(
      nn::Conv1d(nn::Conv1dOptions(4, 6, 3).padding("same").stride(2))(zeros({1, 4, 5})),
      "conv1d: padding \"same\" needs stride 1, got stride 2", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1d(nn::Conv1dOptions(4, 6, 3).padding_mode("reflect")),
                       "Conv1d: padding_mode \"reflect\" is not supported (only \"zeros\")",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::MaxPool1d(4)(zeros({1, 2, 3})),
                       "max_pool1d: kernel size 4 (spanning 4) is larger than the padded input "
                       "length 3",
                       ShapeError);
  CHECK_THROWS_WITH_AS(F::avg_pool1d(zeros({1, 2, 8}), F::AvgPool1dFuncOptions(2).padding(2)),
                       "avg_pool1d: padding 2 should be at most half of kernel_size 2", ValueError);
}
