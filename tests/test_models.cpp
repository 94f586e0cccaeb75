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
