// The examples a newcomer runs first: embedding_basics prints what the tutorial shows, and
// BERT's embedding block matches PyTorch.
#include <array>
#include <cstdio>
#include <memory>
#include <sstream>

#include "../examples/bert_embeddings.hpp"
#include "golden.hpp"

using namespace ember;

namespace {
// Runs a command and returns its standard output and exit status.
std::pair<std::string, int> run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
  int status = ::pclose(pipe);
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}
}  // namespace

TEST_CASE("embedding_basics prints the tutorial's steps") {
  auto [out, status] = run(std::string(EMBER_BINARY_DIR) + "/examples/embedding_basics");
  CHECK(status == 0);
  CHECK(has_line(out, "vocab: {'<unk>': 0, '<pad>': 1, '내': 2, '이름은': 3, '채영': 4}"));
  CHECK(has_line(out, "len(vocab) = 5"));
  CHECK(has_line(out, "Embedding(5, 5, padding_idx=1)"));
  CHECK(has_line(out, "        [ 0.0000,  0.0000,  0.0000,  0.0000,  0.0000],"));  // pad row
  CHECK(has_line(out, "ids: tensor([3, 4])"));
  CHECK(has_line(out, "lookup shape: [2,5]"));
  CHECK(out.find("grad_fn=<EmbeddingBackward0>)") != std::string::npos);
  CHECK(has_line(out, "rows changed by the step: 3 (이름은) 4 (채영)"));
  CHECK(has_line(out, "pad row still zero: yes"));
}

TEST_CASE("golden: BERT embeddings match PyTorch in output and every gradient") {
  const golden::File file = golden::load("bert.txt");
  const golden::Case& c = file.at("bert");
  BertConfig config;
  config.vocab_size = 50;
  config.hidden_size = 8;
  config.pad_token_id = 0;
  config.max_position_embeddings = 16;
  config.type_vocab_size = 2;
  BertEmbeddings model(config);
  StateDict weights;
  for (auto& [name, p] : model.named_parameters()) weights[name] = c.at("param." + name).tensor();
  model.load_state_dict(weights);
  model.eval();
  Tensor out = model.forward(c.at("input_ids").index(), c.at("token_type_ids").index());
  golden::check_close(out, c.at("out"), "output");
  out.backward(c.at("gout").tensor());
  for (auto& [name, p] : model.named_parameters())
    golden::check_close(p.grad(), c.at("grad." + name), "grad of " + name);
}

TEST_CASE("the walk-through of DESIGN.md section 1, as written there") {
  text::Vocab vocab = text::Vocab::build({"내 이름은 채영"}, {"<unk>", "<pad>"});
  nn::Embedding emb(nn::EmbeddingOptions(vocab.size(), 5).padding_idx(1));
  Tensor v = emb(IndexTensor({vocab["이름은"], vocab["채영"]}));  // shape [2, 5]
  CHECK(v.shape() == Shape{2, 5});
  std::ostringstream printed;
  printed << v << emb.weight << "\n";
  CHECK(printed.str().find("grad_fn=<EmbeddingBackward0>") != std::string::npos);
  std::string path = std::string(EMBER_BINARY_DIR) + "/design_model.safetensors";
  io::save(emb.state_dict(), path);
  emb.load_state_dict(io::load(path));
  std::remove(path.c_str());
}
