// config.json <-> GPT2Config / BertConfig. Each key is read by a small setter keyed by the hub's
// name; keys that only the hub's Python code uses are skipped; any other key throws.
#include "ember/models/config.hpp"

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "ember/error.hpp"
#include "ember/io/json.hpp"

namespace ember::models {

namespace {

namespace json = io::json;
using json::Value;
using Kind = Value::Kind;

// PretrainedConfig's bookkeeping: generation defaults, labels' reverse map, provenance, dtype.
// None of them changes the weights or the forward pass of an encoder or a decoder-only model.
const std::set<std::string> kIgnored = {"_name_or_path",
                                        "transformers_version",
                                        "torch_dtype",
                                        "use_cache",
                                        "output_past",
                                        "output_attentions",
                                        "output_hidden_states",
                                        "return_dict",
                                        "label2id",
                                        "problem_type",
                                        "task_specific_params",
                                        "prefix",
                                        "max_length",
                                        "min_length",
                                        "do_sample",
                                        "early_stopping",
                                        "num_beams",
                                        "temperature",
                                        "top_k",
                                        "top_p",
                                        "repetition_penalty",
                                        "length_penalty",
                                        "no_repeat_ngram_size",
                                        "bad_words_ids",
                                        "num_return_sequences",
                                        "chunk_size_feed_forward",
                                        "finetuning_task",
                                        "tokenizer_class",
                                        "sep_token_id",
                                        "decoder_start_token_id",
                                        "summary_type",
                                        "summary_use_proj",
                                        "summary_activation",
                                        "summary_proj_to_labels",
                                        "summary_first_dropout",
                                        "n_ctx",
                                        "reorder_and_upcast_attn",
                                        "directionality",
                                        "pooler_fc_size",
                                        "pooler_num_attention_heads",
                                        "pooler_num_fc_layers",
                                        "pooler_size_per_head",
                                        "pooler_type",
                                        "torchscript",
                                        "pruned_heads",
                                        "is_encoder_decoder",
                                        "tie_encoder_decoder"};

int64_t as_int(const Value& v, const std::string& key, const std::string& source) {
  EMBER_CHECK_VALUE(v.kind == Kind::Number && std::floor(v.number) == v.number, source, ": key \"",
                    key, "\" must be an integer");
  return static_cast<int64_t>(v.number);
}
double as_double(const Value& v, const std::string& key, const std::string& source) {
  EMBER_CHECK_VALUE(v.kind == Kind::Number, source, ": key \"", key, "\" must be a number");
  return v.number;
}
std::string as_string(const Value& v, const std::string& key, const std::string& source) {
  EMBER_CHECK_VALUE(v.kind == Kind::String, source, ": key \"", key, "\" must be a string");
  return v.string;
}
bool as_bool(const Value& v, const std::string& key, const std::string& source) {
  EMBER_CHECK_VALUE(v.kind == Kind::Bool, source, ": key \"", key, "\" must be true or false");
  return v.boolean;
}
// A key whose only value Ember supports is `expected`: any other value would change the model.
void require(bool ok, const std::string& key, const std::string& got, const std::string& source,
             const std::string& supported) {
  EMBER_CHECK_VALUE(ok, source, ": key \"", key, "\" is ", got, "; Ember supports only ",
                    supported);
}

using Setter = std::function<void(const Value&)>;

void read_keys(const std::string& text, const std::string& source,
               const std::map<std::string, Setter>& setters) {
  Value root;
  try {
    root = json::parse(text);
  } catch (const std::exception& e) {
    EMBER_CHECK_VALUE(false, source, ": ", e.what());
  }
  EMBER_CHECK_VALUE(root.kind == Kind::Object, source, ": the top level must be a JSON object");
  for (const auto& [key, value] : root.object) {
    auto it = setters.find(key);
    if (it != setters.end()) {
      it->second(value);
      continue;
    }
    EMBER_CHECK_VALUE(kIgnored.count(key), source, ": unknown key \"", key,
                      "\" (it may change the architecture, so Ember refuses to guess)");
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK_IO(in.good(), "config: cannot open ", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> string_list(const Value& v, const std::string& key,
                                     const std::string& source) {
  EMBER_CHECK_VALUE(v.kind == Kind::Array, source, ": key \"", key, "\" must be a list");
  std::vector<std::string> out;
  for (const Value& s : v.array) out.push_back(as_string(s, key, source));
  return out;
}

std::string number(double x) {
  std::ostringstream s;
  s.precision(17);
  s << x;
  return s.str();
}

std::string string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + json::quote(items[i]);
  return out + "]";
}

}  // namespace

bool is_known_activation(const std::string& name) {
  static const std::set<std::string> known = {
      "gelu_new", "gelu_pytorch_tanh", "gelu", "relu", "tanh", "silu", "swish"};
  return known.count(name) > 0;
}

void GPT2Config::validate() const {
  EMBER_CHECK_VALUE(vocab_size > 0 && n_positions > 0 && n_embd > 0 && n_layer >= 0 && n_head > 0,
                    "GPT2Config: sizes must be positive (vocab_size ", vocab_size, ", n_positions ",
                    n_positions, ", n_embd ", n_embd, ", n_layer ", n_layer, ", n_head ", n_head,
                    ")");
  EMBER_CHECK_VALUE(n_embd % n_head == 0, "GPT2Config: n_embd ", n_embd,
                    " is not divisible by n_head ", n_head);
  EMBER_CHECK_VALUE(is_known_activation(activation_function),
                    "GPT2Config: unknown activation_function \"", activation_function, "\"");
}

GPT2Config GPT2Config::from_json(const std::string& text, const std::string& source) {
  GPT2Config c;
  const std::string& s = source;
  auto i64 = [&](int64_t& field, const char* key) {
    return Setter([&field, key, &s](const Value& v) { field = as_int(v, key, s); });
  };
  auto f64 = [&](double& field, const char* key) {
    return Setter([&field, key, &s](const Value& v) { field = as_double(v, key, s); });
  };
  read_keys(
      text, s,
      {{"vocab_size", i64(c.vocab_size, "vocab_size")},
       {"n_positions", i64(c.n_positions, "n_positions")},
       {"n_embd", i64(c.n_embd, "n_embd")},
       {"n_layer", i64(c.n_layer, "n_layer")},
       {"n_head", i64(c.n_head, "n_head")},
       {"n_inner",
        [&](const Value& v) { c.n_inner = v.kind == Kind::Null ? 0 : as_int(v, "n_inner", s); }},
       {"activation_function",
        [&](const Value& v) { c.activation_function = as_string(v, "activation_function", s); }},
       {"resid_pdrop", f64(c.resid_pdrop, "resid_pdrop")},
       {"embd_pdrop", f64(c.embd_pdrop, "embd_pdrop")},
       {"attn_pdrop", f64(c.attn_pdrop, "attn_pdrop")},
       {"layer_norm_epsilon", f64(c.layer_norm_epsilon, "layer_norm_epsilon")},
       {"initializer_range", f64(c.initializer_range, "initializer_range")},
       {"bos_token_id", i64(c.bos_token_id, "bos_token_id")},
       {"eos_token_id", i64(c.eos_token_id, "eos_token_id")},
       {"pad_token_id", [](const Value&) {}},  // GPT-2 has no padding row
       {"tie_word_embeddings",
        [&](const Value& v) { c.tie_word_embeddings = as_bool(v, "tie_word_embeddings", s); }},
       {"gradient_checkpointing",
        [&](const Value& v) {
          c.gradient_checkpointing = as_bool(v, "gradient_checkpointing", s);
        }},
       {"model_type",
        [&](const Value& v) {
          std::string t = as_string(v, "model_type", s);
          require(t == "gpt2", "model_type", t, s, "\"gpt2\" in a GPT2Config");
        }},
       {"architectures", [&](const Value& v) { string_list(v, "architectures", s); }},
       {"scale_attn_weights",
        [&](const Value& v) {
          require(as_bool(v, "scale_attn_weights", s), "scale_attn_weights", "false", s, "true");
        }},
       {"scale_attn_by_inverse_layer_idx",
        [&](const Value& v) {
          require(!as_bool(v, "scale_attn_by_inverse_layer_idx", s),
                  "scale_attn_by_inverse_layer_idx", "true", s, "false");
        }},
       {"add_cross_attention", [&](const Value& v) {
          require(!as_bool(v, "add_cross_attention", s), "add_cross_attention", "true", s, "false");
        }}});
  c.validate();
  return c;
}

GPT2Config GPT2Config::from_file(const std::string& path) {
  return from_json(read_text(path), path);
}

std::string GPT2Config::to_json() const {
  std::ostringstream o;
  o << "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n"
    << "  \"vocab_size\": " << vocab_size << ",\n  \"n_positions\": " << n_positions
    << ",\n  \"n_embd\": " << n_embd << ",\n  \"n_layer\": " << n_layer
    << ",\n  \"n_head\": " << n_head
    << ",\n  \"n_inner\": " << (n_inner > 0 ? std::to_string(n_inner) : "null")
    << ",\n  \"activation_function\": " << json::quote(activation_function)
    << ",\n  \"resid_pdrop\": " << number(resid_pdrop)
    << ",\n  \"embd_pdrop\": " << number(embd_pdrop)
    << ",\n  \"attn_pdrop\": " << number(attn_pdrop)
    << ",\n  \"layer_norm_epsilon\": " << number(layer_norm_epsilon)
    << ",\n  \"initializer_range\": " << number(initializer_range)
    << ",\n  \"bos_token_id\": " << bos_token_id << ",\n  \"eos_token_id\": " << eos_token_id
    << ",\n  \"tie_word_embeddings\": " << (tie_word_embeddings ? "true" : "false")
    << ",\n  \"torch_dtype\": \"float32\"\n}\n";
  return o.str();
}

void BertConfig::validate() const {
  EMBER_CHECK_VALUE(vocab_size > 0 && hidden_size > 0 && num_hidden_layers >= 0 &&
                        num_attention_heads > 0 && intermediate_size > 0 &&
                        max_position_embeddings > 0 && type_vocab_size > 0,
                    "BertConfig: sizes must be positive (vocab_size ", vocab_size, ", hidden_size ",
                    hidden_size, ", num_attention_heads ", num_attention_heads,
                    ", intermediate_size ", intermediate_size, ")");
  EMBER_CHECK_VALUE(hidden_size % num_attention_heads == 0, "BertConfig: hidden_size ", hidden_size,
                    " is not divisible by num_attention_heads ", num_attention_heads);
  EMBER_CHECK_VALUE(pad_token_id >= 0 && pad_token_id < vocab_size, "BertConfig: pad_token_id ",
                    pad_token_id, " outside the vocabulary of ", vocab_size);
  EMBER_CHECK_VALUE(is_known_activation(hidden_act), "BertConfig: unknown hidden_act \"",
                    hidden_act, "\"");
  EMBER_CHECK_VALUE(!labels.empty(), "BertConfig: id2label is empty");
}

BertConfig BertConfig::from_json(const std::string& text, const std::string& source) {
  BertConfig c;
  const std::string& s = source;
  auto i64 = [&](int64_t& field, const char* key) {
    return Setter([&field, key, &s](const Value& v) { field = as_int(v, key, s); });
  };
  auto f64 = [&](double& field, const char* key) {
    return Setter([&field, key, &s](const Value& v) { field = as_double(v, key, s); });
  };
  int64_t num_labels = -1;
  read_keys(
      text, s,
      {{"vocab_size", i64(c.vocab_size, "vocab_size")},
       {"hidden_size", i64(c.hidden_size, "hidden_size")},
       {"num_hidden_layers", i64(c.num_hidden_layers, "num_hidden_layers")},
       {"num_attention_heads", i64(c.num_attention_heads, "num_attention_heads")},
       {"intermediate_size", i64(c.intermediate_size, "intermediate_size")},
       {"hidden_act", [&](const Value& v) { c.hidden_act = as_string(v, "hidden_act", s); }},
       {"hidden_dropout_prob", f64(c.hidden_dropout_prob, "hidden_dropout_prob")},
       {"attention_probs_dropout_prob",
        f64(c.attention_probs_dropout_prob, "attention_probs_dropout_prob")},
       {"classifier_dropout",
        [&](const Value& v) {
          c.classifier_dropout = v.kind == Kind::Null ? -1 : as_double(v, "classifier_dropout", s);
        }},
       {"max_position_embeddings", i64(c.max_position_embeddings, "max_position_embeddings")},
       {"type_vocab_size", i64(c.type_vocab_size, "type_vocab_size")},
       {"pad_token_id", i64(c.pad_token_id, "pad_token_id")},
       {"layer_norm_eps", f64(c.layer_norm_eps, "layer_norm_eps")},
       {"initializer_range", f64(c.initializer_range, "initializer_range")},
       {"num_labels", [&](const Value& v) { num_labels = as_int(v, "num_labels", s); }},
       {"id2label",
        [&](const Value& v) {
          EMBER_CHECK_VALUE(v.kind == Kind::Object, s, ": key \"id2label\" must be an object");
          std::vector<std::string> labels(v.object.size());
          for (const auto& [id, name] : v.object) {
            size_t at = 0;
            long n = -1;
            try {
              n = std::stol(id, &at);
            } catch (const std::exception&) {
            }
            EMBER_CHECK_VALUE(at == id.size() && n >= 0 && n < static_cast<long>(labels.size()), s,
                              ": id2label key \"", id, "\" is not an id in [0, ", labels.size(),
                              ")");
            labels[static_cast<size_t>(n)] = as_string(name, "id2label", s);
          }
          c.labels = labels;
        }},
       {"architectures",
        [&](const Value& v) { c.architectures = string_list(v, "architectures", s); }},
       {"gradient_checkpointing",
        [&](const Value& v) {
          c.gradient_checkpointing = as_bool(v, "gradient_checkpointing", s);
        }},
       {"model_type",
        [&](const Value& v) {
          std::string t = as_string(v, "model_type", s);
          require(t == "bert", "model_type", t, s, "\"bert\" in a BertConfig");
        }},
       {"position_embedding_type",
        [&](const Value& v) {
          std::string t = as_string(v, "position_embedding_type", s);
          require(t == "absolute", "position_embedding_type", t, s, "\"absolute\"");
        }},
       {"is_decoder",
        [&](const Value& v) {
          require(!as_bool(v, "is_decoder", s), "is_decoder", "true", s, "false");
        }},
       {"add_cross_attention",
        [&](const Value& v) {
          require(!as_bool(v, "add_cross_attention", s), "add_cross_attention", "true", s, "false");
        }},
       {"tie_word_embeddings", [&](const Value& v) {
          require(as_bool(v, "tie_word_embeddings", s), "tie_word_embeddings", "false", s, "true");
        }}});
  if (num_labels > 0 && num_labels != c.num_labels()) {
    c.labels.clear();
    for (int64_t i = 0; i < num_labels; ++i) c.labels.push_back("LABEL_" + std::to_string(i));
  }
  c.validate();
  return c;
}

BertConfig BertConfig::from_file(const std::string& path) {
  return from_json(read_text(path), path);
}

std::string BertConfig::to_json() const {
  std::ostringstream o;
  o << "{\n  \"architectures\": " << string_array(architectures)
    << ",\n  \"model_type\": \"bert\",\n  \"vocab_size\": " << vocab_size
    << ",\n  \"hidden_size\": " << hidden_size
    << ",\n  \"num_hidden_layers\": " << num_hidden_layers
    << ",\n  \"num_attention_heads\": " << num_attention_heads
    << ",\n  \"intermediate_size\": " << intermediate_size
    << ",\n  \"hidden_act\": " << json::quote(hidden_act)
    << ",\n  \"hidden_dropout_prob\": " << number(hidden_dropout_prob)
    << ",\n  \"attention_probs_dropout_prob\": " << number(attention_probs_dropout_prob)
    << ",\n  \"classifier_dropout\": "
    << (classifier_dropout < 0 ? "null" : number(classifier_dropout))
    << ",\n  \"max_position_embeddings\": " << max_position_embeddings
    << ",\n  \"type_vocab_size\": " << type_vocab_size << ",\n  \"pad_token_id\": " << pad_token_id
    << ",\n  \"layer_norm_eps\": " << number(layer_norm_eps)
    << ",\n  \"initializer_range\": " << number(initializer_range)
    << ",\n  \"position_embedding_type\": \"absolute\",\n  \"id2label\": {";
  for (size_t i = 0; i < labels.size(); ++i)
    o << (i ? ", " : "") << json::quote(std::to_string(i)) << ": " << json::quote(labels[i]);
  o << "},\n  \"torch_dtype\": \"float32\"\n}\n";
  return o.str();
}

}  // namespace ember::models
