// ember-lm end to end with short settings: train (BPE trained on the text), eval, generate,
// continue from a checkpoint, finetune-classify the small BERT of tests/golden/hf_bert, and the
// clear errors (non-zero exit) for bad input.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "process.hpp"

namespace {
const std::string kBin = std::string(EMBER_BINARY_DIR) + "/examples/ember-lm";
const std::string kDir = std::string(EMBER_BINARY_DIR) + "/lm_cli_test";
const std::string kText = std::string(EMBER_SOURCE_DIR) + "/examples/data/char_lm.txt";

std::pair<std::string, int> run(const std::string& args) {
  std::string command = kBin + " " + args + " 2>&1";
  return test_process::run_command(command);
}

std::string write(const std::string& name, const std::string& bytes) {
  return test_process::write_file(kDir, name, bytes);
}

const std::string kModel = kDir + "/gpt";
const std::string kTrain = "train --text " + kText +
                           " --vocab-size 300 --layers 1 --dim 32 --heads 2 --context 24 "
                           "--batch 4 --epochs 2 --seed 1 --out " +
                           kModel;
}  // namespace

TEST_CASE("ember-lm: train, eval, generate, continue training") {
  auto [out, code] = run(kTrain);
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("trained a byte-level BPE tokenizer") != std::string::npos);
  CHECK(out.find("epoch 2  perplexity") != std::string::npos);
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt",
                        "history.csv", "curves.svg"})
    CHECK(std::filesystem::exists(kModel + "/" + f));

  auto [eval, eval_code] = run("eval --model " + kModel + " --text " + kText);
  INFO(eval);
  CHECK(eval_code == 0);
  CHECK(eval.find("perplexity ") != std::string::npos);

  const std::string gen =
      "generate --model " + kModel + " --prompt 'the cat' --max-new-tokens 10 --top-k 20 --seed 3";
  auto [a, a_code] = run(gen);
  auto [b, b_code] = run(gen);
  INFO(a);
  CHECK(a_code == 0);
  CHECK(a.rfind("the cat", 0) == 0);
  CHECK(a == b);  // the same seed gives the same text

  auto [more, more_code] =
      run("train --text " + kText + " --from " + kModel + " --max-steps 2 --out " + kDir + "/gpt2");
  INFO(more);
  CHECK(more_code == 0);
}

TEST_CASE("ember-lm: finetune-classify a small BERT checkpoint") {
  std::string rows;
  for (int i = 0; i < 6; ++i) rows += "pos\tgood good good !\nneg\tbad bad bad .\n";
  const std::string data = write("cls.tsv", rows);
  auto [out, code] =
      run("finetune-classify --model " + std::string(EMBER_GOLDEN_DIR) + "/hf_bert --train " +
          data + " --valid " + data + " --epochs 6 --batch 4 --lr 3e-3 --out " + kDir + "/cls");
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("starting fresh: classifier.weight classifier.bias") != std::string::npos);
  CHECK(out.find("accuracy 1") != std::string::npos);
  CHECK(std::filesystem::exists(kDir + "/cls/model.safetensors"));
}

TEST_CASE("ember-lm: bad input gives a clear error and a non-zero exit") {
  auto check_error = [](const std::string& args, const std::string& message) {
    auto [out, code] = run(args);
    INFO(args, "\n", out);
    CHECK(code == 1);
    CHECK(out.find(message) != std::string::npos);
  };
  check_error("train --text /no/such/file.txt", "no such file /no/such/file.txt");
  check_error("train --text " + write("empty.txt", "\n  \n"), "is empty");
  check_error("eval --model /no/such/model --text " + kText,
              "cannot open /no/such/model/config.json");
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "the cat sat ";
  if (!std::filesystem::exists(kModel + "/config.json")) REQUIRE(run(kTrain).second == 0);
  check_error("generate --model " + kModel + " --prompt '" + long_prompt + "'",
              "longer than the model's context (n_positions 24)");

  // A config with a key Ember does not know, and a checkpoint of the wrong shape.
  const std::string bad = kDir + "/bad";
  std::filesystem::create_directories(bad);
  std::filesystem::copy(
      kModel, bad,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  {
    std::ifstream in(kModel + "/config.json");
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string unknown = config;
    unknown.insert(1, "\n  \"rotary_dim\": 64,");
    write("bad/config.json", unknown);
    check_error("eval --model " + bad + " --text " + kText, "unknown key \"rotary_dim\"");
    std::string wider = config;
    const size_t at = wider.find("\"n_embd\": 32");
    REQUIRE(at != std::string::npos);
    wider.replace(at, 12, "\"n_embd\": 48");
    write("bad/config.json", wider);
    check_error("eval --model " + bad + " --text " + kText, "transformer.wte.weight");
  }
  auto [usage, usage_code] = run("train");
  CHECK(usage_code == 2);
  CHECK(usage.find("--text is required") != std::string::npos);
}
