// Activations, Conv1D, init and checkpoint folders shared by GPT-2 and BERT.
#include "ember/models/common.hpp"

#include <cmath>
#include <filesystem>

#include "ember/autograd.hpp"
#include "ember/error.hpp"
#include "ember/io/file.hpp"
#include "ember/io/safetensors.hpp"
#include "ember/ops.hpp"
#include "ember/random.hpp"

namespace ember::models {

Tensor gelu_new(const Tensor& x) { return gelu(x, "tanh"); }

Tensor activation(const std::string& name, const Tensor& x) {
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return gelu_new(x);
  if (name == "gelu") return gelu(x);
  if (name == "relu") return relu(x);
  if (name == "tanh") return tanh(x);
  if (name == "silu" || name == "swish") return silu(x);
  EMBER_CHECK_VALUE(false, "activation: unknown activation \"", name,
                    "\" (known: gelu_new, gelu_pytorch_tanh, gelu, relu, tanh, silu, swish)");
  return x;
}

Conv1D::Conv1D(int64_t in_features, int64_t out_features) {
  weight = register_parameter("weight", zeros({in_features, out_features}));
  bias = register_parameter("bias", zeros({out_features}));
  normal_(weight, 0.02);
}

Tensor Conv1D::forward(const Tensor& x) {
  const int64_t in = weight.size(0), out = weight.size(1);
  EMBER_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == in, "Conv1D: input ",
                    detail::shape_str(x.shape()), " does not end in in_features ", in);
  Shape out_shape = x.shape();
  out_shape.back() = out;
  // As the hub's addmm(bias, x.view(-1, in), W): one [N, in] x [in, out] product, the bias
  // added by it.
  return addmm(bias, x.reshape({x.numel() / in, in}), weight).reshape(out_shape);
}

std::string Conv1D::extra_repr() const {
  return "nf=" + std::to_string(weight.size(1)) + ", nx=" + std::to_string(weight.size(0));
}

void normal_(Tensor& t, double std) {
  NoGradGuard guard;
  t.copy_(normal(0.0, std, t.shape()));
}

std::vector<std::string> load_hub_state(nn::Module& model, StateDict dict,
                                        const std::string& source,
                                        const std::vector<std::string>& fresh_ok) {
  std::vector<std::string> fresh;
  StateDict own = model.state_dict();
  for (const std::string& key : fresh_ok) {
    if (dict.count(key) || !own.count(key)) continue;
    dict[key] = own.at(key);
    fresh.push_back(key);
  }
  try {
    model.load_state_dict(dict, /*strict=*/true);
  } catch (const Error& e) {
    EMBER_CHECK_T(ShapeError, false, "load checkpoint ", source, ": ", e.what());
  }
  return fresh;
}

StateDict read_safetensors(const std::string& path) {
  EMBER_CHECK_IO(std::filesystem::exists(path), "load checkpoint: no such file ", path);
  return io::load_archive(path).tensors;
}

void save_hub_folder(const nn::Module& model, const std::string& config_json,
                     const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  EMBER_CHECK_IO(!ec, "save_pretrained: cannot create folder ", dir, ": ", ec.message());
  io::write_file_atomically(dir + "/config.json", config_json);
  io::save(model.state_dict(), dir + "/model.safetensors", {{"format", "pt"}});
}

}  // namespace ember::models
