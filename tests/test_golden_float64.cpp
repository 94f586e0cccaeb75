// Every op of the float32 golden tables again in float64, against PyTorch 1.13 computing in
// float64 (golden/float64_*.txt, made by golden/make_golden_float64.py with 17 digits): the
// same Ember calls (golden_*_table.hpp), float64 inputs and upstream gradients, the output and
// every input gradient within golden::kRtol64 / kAtol64 (1e-10 relative + 1e-12 absolute),
// and each of them a float64 tensor. The layer cases of nn.txt and attention.txt run through
// the functional ops the layers are shells over; the modules themselves (the recurrent layers,
// MultiheadAttention, the encoder layers) run in float64 in test_golden_float64_seq.cpp.
#include "golden_nn_options.hpp"
#include "golden_noncontiguous_table.hpp"
#include "golden_ops_more_table.hpp"
#include "golden_ops_table.hpp"

using namespace ember;
namespace F = ember::nn::functional;

TEST_CASE("golden float64: every core op matches PyTorch in value and gradient") {
  golden::core::check_file("float64_ops.txt", kFloat64);
}

TEST_CASE("golden float64: Core 2 ops match PyTorch in value, indices and gradient") {
  golden::core_more::check_file("float64_ops_more.txt", kFloat64);
}

TEST_CASE("golden float64: every core op on transposed, narrowed and expanded inputs") {
  golden::noncontiguous::check_file("float64_noncontiguous.txt", kFloat64);
}

namespace {
// A functional case: the leaves are the case's inputs and parameters that have a gradient in
// the file ("x" with grad_x, "weight" with grad_weight, "param.weight" with grad.weight, ...);
// other values (ids, masks, a frozen table) are read from the case.
using Leaves = std::map<std::string, Tensor>;
using FunctionalFn = std::function<Tensor(const Leaves&, const golden::Case&)>;
using FunctionalTable = std::map<std::string, FunctionalFn>;
using L = const Leaves&;
using C = const golden::Case&;

std::string grad_key(const std::string& key) {
  return key.rfind("param.", 0) == 0 ? "grad." + key.substr(6) : "grad_" + key;
}

// The leaf `key`, else the case's value as a float64 tensor, else undefined.
Tensor value(L l, C c, const std::string& key) {
  if (l.count(key)) return l.at(key);
  return c.count(key) ? c.at(key).tensor(false, kFloat64) : Tensor();
}

// Every case of `file_name`: the output, each leaf after the forward where the file has it
// (<key>_after: an embedding's max_norm renormalises its table in place), and every leaf's
// gradient.
void check_functional_file(const std::string& file_name, const FunctionalTable& table) {
  auto check = [&](const std::string& name, const golden::Case& c) {
    REQUIRE_MESSAGE(table.count(name), "no Ember op for golden case ", name);
    Leaves leaves;
    for (const auto& [key, v] : c)
      if (c.count(grad_key(key))) leaves[key] = v.tensor(true, kFloat64);
    Tensor out = table.at(name)(leaves, c);
    golden::check_close(out, c.at("out"), name + " output", kFloat64);
    for (const auto& [key, leaf] : leaves)
      if (c.count(key + "_after"))
        golden::check_close(leaf, c.at(key + "_after"), name + " " + key + " after", kFloat64);
    if (leaves.empty()) {
      CHECK_FALSE(out.requires_grad());
      return;
    }
    out.backward(c.at("gout").tensor(false, kFloat64));
    for (const auto& [key, leaf] : leaves)
      golden::check_close(leaf.grad(), c.at(grad_key(key)), name + " " + grad_key(key), kFloat64);
  };
  golden::for_each_case(file_name, table.size(), check);
}

// nn.txt (make_golden_nn.py): Linear, Embedding with each option, from_pretrained,
// EmbeddingBag in each mode, LayerNorm.
// The functional form of the layer options test_golden_nn.cpp builds for a case.
F::EmbeddingFuncOptions embedding_options(const std::string& name, const Tensor& table) {
  nn::EmbeddingOptions o = golden::nn_cases::embedding_options(name, table);
  return F::EmbeddingFuncOptions()
      .padding_idx(o.padding_idx())
      .max_norm(o.max_norm())
      .norm_type(o.norm_type())
      .scale_grad_by_freq(o.scale_grad_by_freq())
      .sparse(o.sparse());
}

F::EmbeddingBagFuncOptions bag_options(const std::string& name, const Tensor& table, C c,
                                       const Tensor& psw) {
  nn::EmbeddingBagOptions o = golden::nn_cases::bag_options(name, table);
  F::EmbeddingBagFuncOptions f;
  f.max_norm(o.max_norm())
      .norm_type(o.norm_type())
      .scale_grad_by_freq(o.scale_grad_by_freq())
      .mode(o.mode())
      .sparse(o.sparse())
      .include_last_offset(o.include_last_offset())
      .padding_idx(o.padding_idx())
      .per_sample_weights(psw);
  if (c.count("offsets")) f.offsets(c.at("offsets").index());
  return f;
}

FunctionalTable nn_ops() {
  FunctionalTable table = {
      {"linear", [](L l, C) { return linear(l.at("x"), l.at("weight"), l.at("bias")); }},
      {"layer_norm",
       [](L l, C) {
         return F::layer_norm(l.at("x"), {3, 4}, l.at("weight"), l.at("bias"));
       }},
  };
  for (std::string name :
       {"plain", "padding_idx", "padding_idx_negative", "max_norm_l2", "max_norm_l1",
        "scale_grad_by_freq", "sparse", "sparse_padding_freq", "max_norm_padding_freq"})
    table["embedding_" + name] = [name](L l, C c) {
      // sparse=true: a float64 row-sparse gradient, checked through its dense form (grad()).
      return F::embedding(c.at("ids").index(), l.at("weight"),
                          embedding_options(name, l.at("weight")));
    };
  for (const char* name : {"from_pretrained_frozen", "from_pretrained_trainable"})
    table[name] = [](L l, C c) {
      return F::embedding(c.at("ids").index(), value(l, c, "weight"),
                          F::EmbeddingFuncOptions().padding_idx(2));
    };
  for (std::string name :
       {"sum_2d", "mean_2d", "max_2d", "sum_offsets", "mean_offsets", "max_offsets", "sum_weights",
        "sum_last_offset", "mean_padding", "max_padding_sparse", "sum_freq_sparse"})
    table["bag_" + name] = [name](L l, C c) {
      return F::embedding_bag(c.at("ids").index(), l.at("weight"),
                              bag_options(name, l.at("weight"), c, value(l, c, "psw")));
    };
  return table;
}

// attention.txt's op-level cases (make_golden_attention.py): layer_norm,
// scaled_dot_product_attention, conv1d, the poolings.
Tensor sdpa(L l, C c, bool causal) {
  return F::scaled_dot_product_attention(l.at("q"), l.at("k"), l.at("v"), value(l, c, "mask"), 0.0,
                                         causal);
}

Tensor conv(L l, C c, F::Conv1dFuncOptions options) {
  return F::conv1d(l.at("x"), l.at("param.weight"), options.bias(value(l, c, "param.bias")));
}

FunctionalTable attention_ops() {
  using Conv = F::Conv1dFuncOptions;
  using Max = F::MaxPool1dFuncOptions;
  using Avg = F::AvgPool1dFuncOptions;
  return {
      {"layer_norm_affine",
       [](L l, C) {
         return F::layer_norm(l.at("x"), {5}, l.at("param.weight"), l.at("param.bias"));
       }},
      {"layer_norm_2d_plain",
       [](L l, C) {
         return F::layer_norm(l.at("x"), {2, 4});
       }},
      {"sdpa_plain", [](L l, C c) { return sdpa(l, c, false); }},
      {"sdpa_mask", [](L l, C c) { return sdpa(l, c, false); }},
      {"sdpa_mask_broadcast", [](L l, C c) { return sdpa(l, c, false); }},
      {"sdpa_causal", [](L l, C c) { return sdpa(l, c, true); }},
      {"sdpa_4d_causal_mask", [](L l, C c) { return sdpa(l, c, true); }},
      {"conv_plain", [](L l, C c) { return conv(l, c, Conv()); }},
      {"conv_stride_pad",
       [](L l, C c) { return conv(l, c, Conv().stride(2).padding(int64_t{1})); }},
      {"conv_dilation",
       [](L l, C c) { return conv(l, c, Conv().dilation(2).padding(int64_t{2})); }},
      {"conv_groups", [](L l, C c) { return conv(l, c, Conv().groups(2).stride(2)); }},
      {"conv_same_even_kernel", [](L l, C c) { return conv(l, c, Conv().padding("same")); }},
      {"conv_same_dilation",
       [](L l, C c) { return conv(l, c, Conv().padding("same").dilation(2).groups(2)); }},
      {"conv_no_bias", [](L l, C c) { return conv(l, c, Conv()); }},
      {"conv_unbatched", [](L l, C c) { return conv(l, c, Conv().padding(int64_t{1})); }},
      {"maxpool_k3_s2_p1",
       [](L l, C) { return F::max_pool1d(l.at("x"), Max(3).stride(2).padding(1)); }},
      {"maxpool_k2_default_stride", [](L l, C) { return F::max_pool1d(l.at("x"), Max(2)); }},
      {"maxpool_dilation_ceil",
       [](L l, C) {
         return F::max_pool1d(l.at("x"), Max(2).stride(2).dilation(2).ceil_mode(true));
       }},
      {"avgpool_k3_s2_p1",
       [](L l, C) { return F::avg_pool1d(l.at("x"), Avg(3).stride(2).padding(1)); }},
      {"avgpool_no_pad_count",
       [](L l, C) {
         return F::avg_pool1d(l.at("x"), Avg(3).stride(2).padding(1).count_include_pad(false));
       }},
      {"avgpool_ceil",
       [](L l, C) { return F::avg_pool1d(l.at("x"), Avg(3).stride(2).ceil_mode(true)); }},
      {"adaptive_max_7_to_3", [](L l, C) { return F::adaptive_max_pool1d(l.at("x"), 3); }},
      {"adaptive_avg_7_to_3", [](L l, C) { return F::adaptive_avg_pool1d(l.at("x"), 3); }},
      {"adaptive_avg_10_to_4_unbatched",
       [](L l, C) { return F::adaptive_avg_pool1d(l.at("x"), 4); }},
  };
}
}  // namespace

TEST_CASE("golden float64: Linear, Embedding, EmbeddingBag and LayerNorm as functional ops") {
  check_functional_file("float64_nn.txt", nn_ops());
}

TEST_CASE("golden float64: layer_norm, scaled_dot_product_attention, conv1d and the pools") {
  check_functional_file("float64_attention.txt", attention_ops());
}
