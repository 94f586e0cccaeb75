// GPT-2 and BERT with the hub's names against PyTorch twins (tests/golden/make_golden_hf.py):
// logits, every parameter's gradient, 10 AdamW losses, and files PyTorch loads with strict=True.
#include <doctest/doctest.h>

#include <cmath>
#include <ember/ember.hpp>
#include <ember/io/safetensors.hpp>
#include <ember/models/bert.hpp>
#include <ember/models/gpt2.hpp>
#include <ember/optim/adam.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ember;
using namespace ember::models;

namespace {

const std::string kGolden = EMBER_GOLDEN_DIR;

// |got - want| <= rtol * max|want| over the tensor: relative to the tensor's scale, so values
// near zero (most gradients) are not held to a bound below float32's rounding of the sums. The
// 1e-9 floor is for gradients that are zero in exact arithmetic (attention's key bias: adding a
// constant to every score of a row leaves the softmax unchanged), which both sides give as
// rounding noise of about 1e-11.
void check_close(const Tensor& got, const Tensor& want, const std::string& what,
                 double rtol = 1e-5) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  std::vector<float> a = got.to_vector(), b = want.to_vector();
  double scale = 0, worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(double(b[i])));
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  }
  CHECK_MESSAGE(worst <= std::max(rtol * scale, 1e-9), what, ": worst ", worst, " scale ", scale);
}

// name -> shape of PyTorch's state_dict, stored by the script in io.safetensors' metadata.
std::map<std::string, Shape> torch_state_dict(const io::Archive& io) {
  std::map<std::string, Shape> out;
  std::stringstream all(io.metadata.at("state_dict"));
  std::string item;
  while (std::getline(all, item, ';')) {
    const size_t colon = item.find(':');
    Shape shape;
    std::stringstream dims(item.substr(colon + 1));
    std::string d;
    while (std::getline(dims, d, 'x')) shape.push_back(std::stoll(d));
    out[item.substr(0, colon)] = shape;
  }
  return out;
}

// The checks every model shares. run(model) gives logits, loss_of(logits) the loss.
template <class M, class Run, class Loss>
void check_against_torch(const std::string& name, Run run, Loss loss_of) {
  const std::string dir = kGolden + "/" + name;
  io::Archive io = io::load_archive(dir + "/io.safetensors");
  std::unique_ptr<M> model = M::from_pretrained(dir);

  Tensor logits = run(*model, io);
  check_close(logits, io.tensors.at("logits"), name + " logits");
  Tensor loss = loss_of(logits, io);
  check_close(loss.reshape({1}), io.tensors.at("loss"), name + " loss");
  loss.backward();
  size_t grads = 0;
  std::map<std::string, Tensor> params;
  for (const auto& [n, p] : model->named_parameters()) params[n] = p;
  for (const auto& [key, want] : io.tensors) {
    if (key.rfind("grad.", 0) != 0) continue;
    ++grads;
    const std::string param = key.substr(5);
    REQUIRE_MESSAGE(params.count(param), "no parameter ", param);
    check_close(params.at(param).grad(), want, name + " grad of " + param);
  }
  CHECK(grads == model->parameters().size());  // every parameter, tied ones once

  // Ember's file has exactly the names and shapes PyTorch's strict load wants.
  const std::string saved = std::string(EMBER_BINARY_DIR) + "/models_saved_" + name;
  model->save_pretrained(saved);
  std::map<std::string, Shape> in_file;
  for (const auto& [k, t] : io::load_archive(saved + "/model.safetensors").tensors)
    in_file[k] = t.shape();
  CHECK(in_file == torch_state_dict(io));
  std::unique_ptr<M> reloaded = M::from_pretrained(saved);
  CHECK(equal(run(*reloaded, io), run(*model, io)));

  // 10 AdamW steps from the checkpoint: the loss before each, as torch.optim.AdamW.
  std::unique_ptr<M> fresh = M::from_pretrained(dir);
  optim::AdamW opt(fresh->parameters(), optim::AdamWOptions(1e-2).weight_decay(0.01));
  std::vector<float> losses;
  for (int step = 0; step < 10; ++step) {
    opt.zero_grad();
    Tensor l = loss_of(run(*fresh, io), io);
    losses.push_back(l.item());
    l.backward();
    opt.step();
  }
  check_close(tensor(losses), io.tensors.at("losses"), name + " 10 AdamW losses");
}

Tensor bert_logits(nn::Module& m, const io::Archive& io) {
  const auto& ix = io.index_tensors;
  Tensor mask = to_float(ix.at("attention_mask"));
  if (auto* mlm = dynamic_cast<BertForMaskedLM*>(&m))
    return mlm->forward(ix.at("input_ids"), ix.at("token_type_ids"), mask);
  return dynamic_cast<BertForSequenceClassification&>(m).forward(ix.at("input_ids"),
                                                                 ix.at("token_type_ids"), mask);
}

}  // namespace

TEST_CASE("models: GPT-2 matches its PyTorch twin (logits, gradients, 10 AdamW losses, file)") {
  check_against_torch<GPT2LMHeadModel>(
      "hf_gpt2",
      [](GPT2LMHeadModel& m, const io::Archive& io) {
        return m.forward(io.index_tensors.at("input_ids"));
      },
      [](const Tensor& logits, const io::Archive& io) {
        return GPT2LMHeadModel::loss(logits, io.index_tensors.at("input_ids"));
      });
}

TEST_CASE("models: BertForMaskedLM matches its PyTorch twin, padding masked") {
  check_against_torch<BertForMaskedLM>(
      "hf_bert", bert_logits, [](const Tensor& logits, const io::Archive& io) {
        return BertForMaskedLM::loss(logits, io.index_tensors.at("labels"));
      });
}

TEST_CASE("models: BertForSequenceClassification matches its PyTorch twin") {
  check_against_torch<BertForSequenceClassification>(
      "hf_bert_cls", bert_logits, [](const Tensor& logits, const io::Archive& io) {
        return nn::functional::cross_entropy(logits, io.index_tensors.at("labels"));
      });
}

TEST_CASE("models: strict loading lists every missing, unexpected and mis-shaped key at once") {
  const std::string dir = kGolden + "/hf_gpt2";
  StateDict dict = io::load(dir + "/model.safetensors");
  dict.erase("transformer.h.1.mlp.c_fc.bias");
  dict["transformer.h.0.attn.rotary.weight"] = zeros({2});
  dict["transformer.wpe.weight"] = zeros({16, 32});
  const std::string broken = std::string(EMBER_BINARY_DIR) + "/models_broken.safetensors";
  io::save(dict, broken);
  GPT2LMHeadModel model(GPT2Config::from_file(dir + "/config.json"));
  try {
    model.load_safetensors(broken);
    FAIL("a broken checkpoint loaded");
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find(broken) != std::string::npos);
    CHECK(what.find("transformer.h.1.mlp.c_fc.bias") != std::string::npos);
    CHECK(what.find("transformer.h.0.attn.rotary.weight") != std::string::npos);
    CHECK(what.find("transformer.wpe.weight") != std::string::npos);
  }
  // The hub's own layout: GPT2Model keys without "transformer.", attn.bias mask buffers.
  StateDict hub;
  for (const auto& [k, v] : io::load(dir + "/model.safetensors")) hub[k.substr(12)] = v;
  hub["h.0.attn.bias"] = ones({1, 1, 32, 32});
  const std::string bare = std::string(EMBER_BINARY_DIR) + "/models_bare.safetensors";
  io::save(hub, bare);
  model.load_safetensors(bare);
  CHECK(equal(model.transformer.wte.weight, hub.at("wte.weight")));
}

TEST_CASE("models: config.json keys are the hub's, unknown or unsupported ones throw") {
  GPT2Config g = GPT2Config::from_json(R"({"n_embd": 64, "n_head": 8, "n_inner": null,
      "activation_function": "gelu_new", "torch_dtype": "float32", "n_ctx": 1024})");
  CHECK(g.n_embd == 64);
  CHECK(g.inner_dim() == 256);
  CHECK(GPT2Config::from_json(g.to_json()).n_head == 8);
  CHECK_THROWS_WITH_AS(GPT2Config::from_json(R"({"rotary_dim": 64})"),
                       doctest::Contains("unknown key \"rotary_dim\""), ValueError);
  CHECK_THROWS_WITH(GPT2Config::from_json(R"({"n_embd": 30, "n_head": 4})"),
                    doctest::Contains("n_embd 30 is not divisible by n_head 4"));
  CHECK_THROWS_WITH(GPT2Config::from_json(R"({"scale_attn_by_inverse_layer_idx": true})"),
                    doctest::Contains("scale_attn_by_inverse_layer_idx"));
  BertConfig b = BertConfig::from_json(R"({"hidden_size": 48, "num_attention_heads": 4,
      "id2label": {"1": "pos", "0": "neg"}, "layer_norm_eps": 1e-12, "model_type": "bert"})");
  CHECK(b.labels == std::vector<std::string>{"neg", "pos"});
  CHECK(BertConfig::from_json(b.to_json()).labels == b.labels);
  CHECK_THROWS_WITH(BertConfig::from_json(R"({"position_embedding_type": "relative_key"})"),
                    doctest::Contains("position_embedding_type"));
  CHECK_THROWS_WITH(BertConfig::from_json(R"({"hidden_act": "gelu_fast"})"),
                    doctest::Contains("unknown hidden_act \"gelu_fast\""));
  CHECK_THROWS_WITH(BertConfig::from_json("{\"hidden_size\": 12.5}"),
                    doctest::Contains("\"hidden_size\" must be an integer"));
}
