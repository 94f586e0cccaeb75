// ember-classify --model cnn / lstm / transformer end to end on the bundled data: train with a
// test set, eval and predict from the saved directory (which records the model kind).
#include <array>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

#include "golden.hpp"
#include "process.hpp"

namespace {
const std::string kBin = std::string(EMBER_BINARY_DIR) + "/examples/ember-classify";
const std::string kData = std::string(EMBER_SOURCE_DIR) + "/examples/sentence_classifier/data";
const std::string kDir = std::string(EMBER_BINARY_DIR) + "/classifier_models_test";

std::pair<std::string, int> run(const std::string& args) {
  return test_process::run_command(kBin + " " + args + " 2>&1");
}

// The number after `label` in the output (-1 when absent).
double number_after(const std::string& out, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(label + " ([0-9.]+)"))) return -1;
  return std::stod(m[1]);
}
}  // namespace

TEST_CASE("ember-classify --model lstm / transformer / cnn: train, eval and predict") {
  struct Kind {
    const char* name;
    const char* options;
    double min_accuracy;
  };
  // cnn is checked for running end to end, lstm and transformer for accuracy >= 0.90.
  for (const Kind& kind : {Kind{"lstm", "--epochs 8 --dim 32 --hidden 32", 0.90},
                           Kind{"transformer", "--epochs 8 --dim 32 --hidden 32", 0.90},
                           Kind{"cnn", "--epochs 3 --dim 16 --hidden 16", 0.0}}) {
    SUBCASE(kind.name) {
      const std::string model = kDir + "/" + kind.name;
      std::filesystem::remove_all(model);
      auto [out, status] = run(std::string("train --model ") + kind.name + " " + kind.options +
                               " --threads 2 --train " + kData + "/train.tsv --test " + kData +
                               "/test.tsv --out " + model);
      INFO(out);
      REQUIRE(status == 0);
      const double test_accuracy = number_after(out, "test accuracy");
      CHECK(test_accuracy >= kind.min_accuracy);

      auto [eval, eval_status] = run("eval --model " + model + " --data " + kData + "/test.tsv");
      INFO(eval);
      CHECK(eval_status == 0);
      CHECK(number_after(eval, "accuracy") == doctest::Approx(test_accuracy).epsilon(1e-4));

      auto [pred, pred_status] =
          run("predict --model " + model + " \"I loved it, wonderful\" \"정말 최악이었어요\"");
      INFO(pred);
      CHECK(pred_status == 0);
      CHECK(pred.find("\tI loved it, wonderful\n") != std::string::npos);
    }
  }
  auto [bad, bad_status] = run("train --model rnn --train " + kData + "/train.tsv");
  CHECK(bad_status != 0);
  CHECK(bad.find("rnn") != std::string::npos);
}

TEST_CASE("ember-classify train --bf16: the transformer under bfloat16 autocast still learns") {
  const std::string model = kDir + "/transformer-bf16";
  std::filesystem::remove_all(model);
  auto [out, status] =
      run("train --model transformer --bf16 --epochs 8 --dim 32 --hidden 32 "
          "--threads 2 --train " +
          kData + "/train.tsv --test " + kData + "/test.tsv --out " + model);
  INFO(out);
  REQUIRE(status == 0);
  CHECK(number_after(out, "test accuracy") >= 0.90);
}
