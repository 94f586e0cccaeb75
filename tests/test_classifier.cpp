// ember-classify end to end: train / eval / predict on a small file, a reloaded model predicts
// what the trained one did, and malformed input gives a clear error and a non-zero exit.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "classifier.hpp"
#include "golden.hpp"

namespace {
const std::string kBin = std::string(EMBER_BINARY_DIR) + "/examples/ember-classify";
const std::string kDir = std::string(EMBER_BINARY_DIR) + "/classifier_test";

std::pair<std::string, int> run(const std::string& args, const std::string& input = "") {
  std::string command = kBin + " " + args + " 2>&1";
  if (!input.empty()) command = "printf '%s' '" + input + "' | " + command;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

std::string write(const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(kDir);
  std::string path = kDir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string small_data() {
  std::string rows;
  const char* good[] = {"great film", "정말 좋았어요", "loved it", "wonderful food", "최고였어요"};
  const char* bad[] = {"awful film", "정말 별로였어요", "hated it", "terrible food",
                       "최악이었어요"};
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 5; ++i)
      rows += std::string("good\t") + good[i] + "\n" + "bad\t" + bad[i] + "\n";
  return rows;
}
}  // namespace

TEST_CASE("ember-classify train, eval and predict end to end") {
  std::string data = write("small.tsv", small_data());
  auto [train_out, train_status] =
      run("train --train " + data + " --valid " + data + " --test " + data +
          " --epochs 15 --dim 16 --hidden 16 --out " + kDir + "/model");
  INFO(train_out);
  CHECK(train_status == 0);
  CHECK(train_out.find("test accuracy 1.0000") != std::string::npos);
  for (const char* f :
       {"model.safetensors", "vocab.txt", "labels.txt", "history.csv", "curves.svg"})
    CHECK(std::filesystem::exists(kDir + "/model/" + f));
  std::ifstream history(kDir + "/model/history.csv");
  std::string header;
  std::getline(history, header);
  CHECK(header == "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,seconds");

  auto [eval_out, eval_status] = run("eval --model " + kDir + "/model --data " + data);
  INFO(eval_out);
  CHECK(eval_status == 0);
  CHECK(eval_out.find("accuracy 1.0000") != std::string::npos);
  CHECK(eval_out.find("confusion matrix") != std::string::npos);

  auto [pred_out, pred_status] =
      run("predict --model " + kDir + "/model \"정말 좋았어요\" \"awful film\"");
  INFO(pred_out);
  CHECK(pred_status == 0);
  CHECK(pred_out.rfind("good\tgood=", 0) == 0);
  CHECK(pred_out.find("\nbad\tgood=") != std::string::npos);
  auto [stdin_out, stdin_status] = run("predict --model " + kDir + "/model", "hated it\\n");
  CHECK(stdin_status == 0);
  CHECK(stdin_out.rfind("bad\t", 0) == 0);
  CHECK(run("train --help").first.find("--pretrained PATH") != std::string::npos);
  CHECK(run("eval --help").second == 0);
  CHECK(run("predict --help").second == 0);
}

TEST_CASE("a saved model predicts the same labels after reloading") {
  using namespace classifier;
  text::LabelSet labels;
  auto examples = text::read_tsv(write("reload.tsv", small_data()), labels);
  Config config;
  config.epochs = 3;
  config.dim = 8;
  config.hidden = 8;
  Model trained = train(examples, labels, nullptr, config, {}, nullptr);
  trained.save(kDir + "/reload");
  Model loaded = Model::load(kDir + "/reload");
  std::vector<std::string> texts;
  for (auto& e : examples) texts.push_back(e.text);
  texts.push_back("unseen words entirely");
  CHECK(trained.predict(texts) == loaded.predict(texts));
  CHECK(trained.probabilities(texts).to_vector() == loaded.probabilities(texts).to_vector());
}

TEST_CASE("pretrained vectors with --freeze leave the table unchanged") {
  using namespace classifier;
  std::string vectors = write("vectors.txt", "great 1 0 0 0\nawful -1 0 0 0\nfilm 0 1 0 0\n");
  text::LabelSet labels;
  auto examples = text::read_tsv(write("frozen.tsv", small_data()), labels);
  Config config;
  config.epochs = 3;
  config.pretrained = vectors;
  config.freeze = true;
  std::string report;
  TrainCallbacks callbacks;
  callbacks.on_message = [&](const std::string& m) { report = m; };
  Model m = train(examples, labels, nullptr, config, callbacks, nullptr);
  CHECK(report.find("found 3 of") != std::string::npos);
  CHECK(m.table().size(1) == 4);
  ember::Tensor row = ember::index_select(m.table(), 0, ember::IndexTensor{m.vocab["great"]});
  CHECK(row.to_vector() == std::vector<float>{1, 0, 0, 0});
  auto [out, status] = run("train --train " + write("f.tsv", small_data()) + " --pretrained " +
                           vectors + " --freeze --epochs 1 --out " + kDir + "/frozen");
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("pretrained vectors: found 3 of") != std::string::npos);
}

TEST_CASE("malformed input: a clear error and a non-zero exit") {
  auto fails = [](const std::string& args, const std::string& message) {
    auto [out, status] = run(args);
    INFO(out);
    CHECK(status != 0);
    CHECK(out.find(message) != std::string::npos);
  };
  fails("train --train " + kDir + "/missing.tsv", "cannot open '" + kDir + "/missing.tsv'");
  fails("train --train " + write("notab.tsv", "good\tfine\njust text\n"),
        "notab.tsv:2: expected label<TAB>text, found no tab");
  fails("train --train " + write("empty.tsv", "\n"), "holds no examples (empty dataset)");
  fails("train --train " + write("bad_utf8.tsv", "good\tok\ngood\t\xff\n"),
        "bad_utf8.tsv:2: invalid UTF-8 at byte 5");
  std::filesystem::create_directories(kDir + "/broken");
  fails("eval --model " + kDir + "/broken --data " + write("d.tsv", small_data()),
        "model directory '" + kDir + "/broken' is missing model.safetensors");
  fails("train --train x --epochs zero", "--epochs: expected a positive integer, got 'zero'");
  fails("train --bogus 1", "unknown option --bogus");
  fails("frobnicate", "unknown command 'frobnicate'");
}
