// What the hub-named models share: the activations their configs name, the hub's Conv1D (a
// linear layer stored [in, out]), weight init, and reading / writing a checkpoint folder
// (config.json + model.safetensors) with the hub's parameter names.
#pragma once

#include <string>
#include <vector>

#include "ember/nn/module.hpp"
#include "ember/state_dict.hpp"
#include "ember/tensor.hpp"

namespace ember::models {

// GPT-2's "gelu_new": the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Tensor gelu_new(const Tensor& x);
// The activation a config names: gelu_new / gelu_pytorch_tanh, gelu (erf), relu, tanh, silu.
Tensor activation(const std::string& name, const Tensor& x);

// The hub's Conv1D: y = x W + b with W stored [in, out] (GPT-2's checkpoints keep it so).
class Conv1D : public nn::TensorModule {
 public:
  Conv1D(int64_t in_features, int64_t out_features);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;  // [in, out]
  Tensor bias;    // [out]
};

// Writes normal(0, std) values into a parameter, outside the tape.
void normal_(Tensor& t, double std);

// Loads a hub state dict into `model`, strictly: a missing, unexpected or mis-shaped key fails
// with one error listing all of them and naming `source`. Keys in `fresh_ok` may be missing
// (a classifier head a checkpoint has not trained yet): they keep their initial values and are
// returned.
std::vector<std::string> load_hub_state(nn::Module& model, StateDict dict,
                                        const std::string& source,
                                        const std::vector<std::string>& fresh_ok = {});
// The float tensors of a model.safetensors (the hub's int64 buffers such as position_ids are
// skipped: Ember's models compute them).
StateDict read_safetensors(const std::string& path);
// dir/config.json and dir/model.safetensors, every name of model.state_dict() (tied ones too,
// so PyTorch's load_state_dict(strict=True) takes the file as it is).
void save_hub_folder(const nn::Module& model, const std::string& config_json,
                     const std::string& dir);

}  // namespace ember::models
