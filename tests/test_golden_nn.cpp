// Linear, Embedding (each option and combinations), from_pretrained, EmbeddingBag (each mode,
// offsets, weights, padding) and LayerNorm against PyTorch 1.13 (golden/nn.txt).
#include "golden_nn_options.hpp"

using namespace ember;
namespace F = ember::nn::functional;

namespace {
const golden::File& nn_file() {
  static const golden::File file = golden::load("nn.txt");
  return file;
}

}  // namespace

TEST_CASE("golden: Linear") {
  const golden::Case& c = nn_file().at("linear");
  nn::Linear lin(4, 3);
  lin.weight.data() = c.at("weight").tensor().data();
  lin.bias.data() = c.at("bias").tensor().data();
  Tensor x = c.at("x").tensor(true);
  Tensor out = lin(x);
  golden::check_close(out, c.at("out"), "out");
  out.backward(c.at("gout").tensor());
  golden::check_close(x.grad(), c.at("grad_x"), "grad_x");
  golden::check_close(lin.weight.grad(), c.at("grad_weight"), "grad_weight");
  golden::check_close(lin.bias.grad(), c.at("grad_bias"), "grad_bias");
}

TEST_CASE("golden: Embedding with each option and combinations") {
  for (const char* name :
       {"plain", "padding_idx", "padding_idx_negative", "max_norm_l2", "max_norm_l1",
        "scale_grad_by_freq", "sparse", "sparse_padding_freq", "max_norm_padding_freq"}) {
    SUBCASE(name) {
      const golden::Case& c = nn_file().at(std::string("embedding_") + name);
      nn::Embedding emb(golden::nn_cases::embedding_options(name, c.at("weight").tensor()));
      Tensor out = emb(c.at("ids").index());
      golden::check_close(out, c.at("out"), "out");
      golden::check_close(emb.weight, c.at("weight_after"), "weight after the lookup");
      out.backward(c.at("gout").tensor());
      CHECK(emb.weight.has_sparse_grad() == emb.options().sparse());
      golden::check_close(emb.weight.grad(), c.at("grad_weight"), "grad_weight");
    }
  }
}

TEST_CASE("golden: Embedding::from_pretrained, frozen and trainable") {
  for (bool freeze : {true, false}) {
    CAPTURE(freeze);
    const golden::Case& c =
        nn_file().at(freeze ? "from_pretrained_frozen" : "from_pretrained_trainable");
    Tensor table = c.at("weight").tensor();
    nn::Embedding emb =
        nn::Embedding::from_pretrained(table, freeze, nn::EmbeddingOptions(1, 1).padding_idx(2));
    CHECK(emb.weight.requires_grad() == !freeze);
    CHECK(emb.weight.to_vector() == table.to_vector());  // the pad row is kept as given
    Tensor out = emb(c.at("ids").index());
    golden::check_close(out, c.at("out"), "out");
    if (!freeze) {
      out.backward(c.at("gout").tensor());
      golden::check_close(emb.weight.grad(), c.at("grad_weight"), "grad_weight");
    } else {
      CHECK_FALSE(out.requires_grad());
    }
  }
}

TEST_CASE("golden: EmbeddingBag in each mode, with offsets, weights and padding") {
  for (const char* name :
       {"sum_2d", "mean_2d", "max_2d", "sum_offsets", "mean_offsets", "max_offsets", "sum_weights",
        "sum_last_offset", "mean_padding", "max_padding_sparse", "sum_freq_sparse"}) {
    SUBCASE(name) {
      const golden::Case& c = nn_file().at(std::string("bag_") + name);
      nn::EmbeddingBag bag(golden::nn_cases::bag_options(name, c.at("weight").tensor()));
      std::optional<IndexTensor> offsets;
      if (c.count("offsets")) offsets = c.at("offsets").index();
      Tensor psw = c.count("psw") ? c.at("psw").tensor(true) : Tensor();
      Tensor out = bag(c.at("ids").index(), offsets, psw);
      golden::check_close(out, c.at("out"), "out");
      out.backward(c.at("gout").tensor());
      CHECK(bag.weight.has_sparse_grad() == bag.options().sparse());
      golden::check_close(bag.weight.grad(), c.at("grad_weight"), "grad_weight");
      if (psw.defined()) golden::check_close(psw.grad(), c.at("grad_psw"), "grad_psw");
    }
  }
}

TEST_CASE("golden: LayerNorm") {
  const golden::Case& c = nn_file().at("layer_norm");
  nn::LayerNorm ln({3, 4});
  ln.weight.data() = c.at("weight").tensor().data();
  ln.bias.data() = c.at("bias").tensor().data();
  Tensor x = c.at("x").tensor(true);
  Tensor out = ln(x);
  golden::check_close(out, c.at("out"), "out");
  out.backward(c.at("gout").tensor());
  golden::check_close(x.grad(), c.at("grad_x"), "grad_x");
  golden::check_close(ln.weight.grad(), c.at("grad_weight"), "grad_weight");
  golden::check_close(ln.bias.grad(), c.at("grad_bias"), "grad_bias");
}
