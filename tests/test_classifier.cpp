// ember-classify end to end: train / eval / predict on a small file, a reloaded model predicts
// what the trained one did, and malformed input gives a clear error and a non-zero exit.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "classifier.hpp"
#include "golden.hpp"
#include "process.hpp"

namespace {
const std::string kBin = std::string(EMBER_BINARY_DIR) + "/examples/ember-classify";
const std::string kDir = std::string(EMBER_BINARY_DIR) + "/classifier_test";

std::pair<std::string, int> run(const std::string& args, const std::string& input = "") {
  std::string command = kBin + " " + args + " 2>&1";
  if (!input.empty()) command = "printf '%s' '" + input + "' | " + command;
  return test_process::run_command(command);
}

std::string write(const std::string& name, const std::string& bytes) {
  return test_process::write_file(kDir, name, bytes);
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
          " --epochs 15 --dim 16 --hidden 16 --buckets 1000 --out " + kDir + "/model");
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
  CHECK(pred_out.find("\nbad\tbad=") != std::string::npos);
  auto [stdin_out, stdin_status] = run("predict --model " + kDir + "/model", "hated it\\n");
  CHECK(stdin_status == 0);
  CHECK(stdin_out.rfind("bad\t", 0) == 0);
  CHECK(run("train --help").first.find("--pretrained TEXT") != std::string::npos);
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
  config.ngrams = {2, 2, 4, 1000};  // word bigrams and character 2-4-grams
  Model trained = train(examples, labels, nullptr, config, {}, nullptr);
  trained.save(kDir + "/reload");
  Model loaded = Model::load(kDir + "/reload");
  std::vector<std::string> texts;
  for (auto& e : examples) texts.push_back(e.text);
  texts.push_back("unseen words entirely");
  CHECK(loaded.ngrams.maxn == 4);
  CHECK(loaded.encode("great filmy") == trained.encode("great filmy"));
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
  config.ngrams.buckets = 100;
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
                           vectors + " --freeze --epochs 1 --buckets 10 --out " + kDir + "/frozen");
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
  // Bad option values name the option and the value.
  fails("train --train x --epochs zero", "--epochs: expected a positive integer, got 'zero'");
  fails("train --train x --epochs 0", "--epochs: expected a positive integer, got '0'");
  fails("train --train x --buckets -3", "--buckets: expected a non-negative integer, got '-3'");
  fails("train --train x --optimizer rmsprop", "rmsprop");
  fails("train --train x --word-ngrams 9", "--word-ngrams");
  fails("train --train x --minn 4 --maxn 2", "need 1 <= --minn <= --maxn");
  fails("train --train x --early-stop 2", "--early-stop: needs --valid");
  fails("train --train x --freeze", "--freeze requires --pretrained");
  fails("train --train x --lr -1", "--lr: expected a positive number, got '-1'");
  fails("predict --model m --k 0 hi", "--k: must be -1 or positive");
  fails("predict --model m --threshold 2 hi", "--threshold");
  fails("train --bogus 1", "--bogus");
  fails("train --bogus", "not expected: --bogus");
  fails("frobnicate", "not expected: frobnicate");
  fails("train", "--train is required");
}

TEST_CASE("the command line: --key=value, --, --seed 0, help from the option definitions") {
  std::string data = write("cli.tsv", small_data());
  const std::string model = kDir + "/cli-model";
  auto [out, status] = run("train --train=" + data + " --epochs=8 --seed 0 --dim=8 --hidden 8 " +
                           "--buckets=500 --minn 2 --maxn 3 --threads 1 --out=" + model);
  INFO(out);
  REQUIRE(status == 0);
  // A sentence that starts with "--" is text after "--", not an option.
  auto [pred, pred_status] = run("predict --model " + model + " --k=-1 -- --great-- \"hated it\"");
  INFO(pred);
  CHECK(pred_status == 0);
  CHECK(pred.find("\t--great--\n") != std::string::npos);
  CHECK(pred.find("\thated it\n") != std::string::npos);
  // Help lists every option the parser knows, with the reason for the sparse default.
  auto [help, help_status] = run("train --help");
  CHECK(help_status == 0);
  for (const char* option :
       {"--train",   "--valid",       "--test",       "--out",        "--epochs",  "--dim",
        "--hidden",  "--lr",          "--lr-decay",   "--batch-size", "--max-len", "--optimizer",
        "--dense",   "--word-ngrams", "--buckets",    "--minn",       "--maxn",    "--min-count",
        "--threads", "--early-stop",  "--pretrained", "--freeze",     "--seed",    "--bf16"})
    CHECK_MESSAGE(help.find(option) != std::string::npos, option);
  CHECK(help.find("lazy Adam") != std::string::npos);
  CHECK(run("--help").first.find("quantize") != std::string::npos);
}

TEST_CASE("predict --k: labels by falling probability; --threshold leaves out the unlikely") {
  using namespace classifier;
  std::string data = write("topk.tsv", small_data() + "meh\tso so film\nmeh\t그저 그래요\n");
  const std::string model = kDir + "/topk-model";
  REQUIRE(
      run("train --train " + data + " --epochs 10 --dim 8 --hidden 8 --buckets 100 --out " + model)
          .second == 0);
  auto [all, status] = run("predict --model " + model + " --k -1 \"great film\"");
  INFO(all);
  REQUIRE(status == 0);
  // "good\tgood=p1 X=p2 Y=p3\tgreat film": three labels, probabilities falling, summing to 1.
  std::vector<std::string> labels;
  std::vector<double> probs;
  std::string list = all.substr(all.find('\t') + 1);
  list = list.substr(0, list.find('\t'));
  std::istringstream fields(list);
  for (std::string f; fields >> f;) {
    labels.push_back(f.substr(0, f.find('=')));
    probs.push_back(std::stod(f.substr(f.find('=') + 1)));
  }
  REQUIRE(probs.size() == 3);
  CHECK(all.rfind(labels[0] + "\t", 0) == 0);  // the best label leads the line
  CHECK(probs[0] >= probs[1]);
  CHECK(probs[1] >= probs[2]);
  CHECK(probs[0] + probs[1] + probs[2] == doctest::Approx(1.0).epsilon(0.001));
  auto [two, two_status] = run("predict --model " + model + " --k 2 \"great film\"");
  CHECK(two.find(labels[0] + "=") != std::string::npos);
  CHECK(two.find(labels[1] + "=") != std::string::npos);
  CHECK(two.find(labels[2] + "=") == std::string::npos);
  auto [none, none_status] = run("predict --model " + model + " --k -1 --threshold 1 \"great\"");
  CHECK(none_status == 0);
  CHECK(none.find("=") == std::string::npos);
  // The library's top_k on a known row: ties keep class order.
  Tensor p = ember::tensor({0.2f, 0.5f, 0.3f, 0.0f, 0.5f, 0.5f}, {2, 3});
  auto tops = top_k(p, 2, 0.0);
  CHECK(tops[0] == std::vector<std::pair<int64_t, float>>{{1, 0.5f}, {2, 0.3f}});
  CHECK(tops[1] == std::vector<std::pair<int64_t, float>>{{1, 0.5f}, {2, 0.5f}});
  CHECK(top_k(p, -1, 0.25)[0].size() == 2);
  auto [eval, eval_status] = run("eval --model " + model + " --data " + data + " --k 2");
  CHECK(eval.find("P@2 ") != std::string::npos);
  CHECK(eval.find("R@2 ") != std::string::npos);
}

TEST_CASE("quantize: a smaller model that predicts the same; a truncated table is an error") {
  std::string data = write("q.tsv", small_data());
  const std::string model = kDir + "/q-model", q = kDir + "/q-model-int8";
  REQUIRE(run("train --train " + data + " --epochs 10 --dim 16 --hidden 8 --buckets 2000 --out " +
              model)
              .second == 0);
  auto [out, status] = run("quantize --model " + model + " --out " + q + " --data " + data);
  INFO(out);
  REQUIRE(status == 0);
  CHECK(out.find("accuracy on") != std::string::npos);
  CHECK(std::filesystem::file_size(q + "/model.safetensors") +
            std::filesystem::file_size(q + "/table.q8") <
        std::filesystem::file_size(model + "/model.safetensors") / 3);
  auto [p1, s1] = run("predict --model " + model + " \"정말 좋았어요\" \"awful film\"");
  auto [p2, s2] = run("predict --model " + q + " \"정말 좋았어요\" \"awful film\"");
  CHECK(s2 == 0);
  CHECK(p1.substr(0, 4) == p2.substr(0, 4));
  CHECK(run("eval --model " + q + " --data " + data).first.find("accuracy 1.0000") !=
        std::string::npos);
  std::filesystem::resize_file(q + "/table.q8", std::filesystem::file_size(q + "/table.q8") - 7);
  auto [bad, bad_status] = run("predict --model " + q + " hello");
  CHECK(bad_status != 0);
  CHECK(bad.find("table.q8") != std::string::npos);
  CHECK(bad.find("(truncated)") != std::string::npos);
  std::filesystem::resize_file(q + "/table.q8", 10);
  CHECK(run("eval --model " + q + " --data " + data).first.find("not an int8 table") !=
        std::string::npos);
}

TEST_CASE("training: the same model on 1 and 2 threads; early stopping keeps the best epoch") {
  using namespace classifier;
  text::LabelSet labels;
  auto examples = text::read_tsv(write("threads.tsv", small_data() + small_data()), labels);
  Config config;
  config.epochs = 2;
  config.dim = 8;
  config.hidden = 8;
  config.ngrams = {2, 2, 3, 500};
  config.threads = 1;
  Model one = train(examples, labels, nullptr, config, {}, nullptr);
  config.threads = 2;
  Model two = train(examples, labels, nullptr, config, {}, nullptr);
  std::vector<std::string> texts = {"great film", "최악이었어요", "so so"};
  CHECK(one.probabilities(texts).to_vector() == two.probabilities(texts).to_vector());

  config.epochs = 30;
  config.early_stop = 2;
  std::vector<EpochStats> history;
  std::string message;
  TrainCallbacks callbacks;
  callbacks.on_message = [&](const std::string& m) { message = m; };
  Model stopped = train(examples, labels, &examples, config, callbacks, &history);
  CHECK(history.size() < 30);
  CHECK(message.find("early stop") != std::string::npos);
  double best = 0;
  for (auto& s : history) best = std::max(best, *s.valid_accuracy);
  CHECK(evaluate(stopped, examples).accuracy == doctest::Approx(best));
}

// Issue 21, item 16 (and 17's --dim): each failed before its fix.
TEST_CASE("review 16: a byte-order mark, invalid metadata, a diverging run, an unusable --out") {
  SUBCASE("a UTF-8 byte-order mark is not part of the first label") {
    std::string data = write("bom.tsv", "\xEF\xBB\xBF" + small_data());
    auto [out, status] = run("train --train " + data + " --epochs 1 --dim 4 --hidden 4 " +
                             "--buckets 10 --out " + kDir + "/bom");
    INFO(out);
    CHECK(status == 0);
    CHECK(out.find("2 classes") != std::string::npos);
    std::ifstream labels(kDir + "/bom/labels.txt");
    std::string first;
    std::getline(labels, first);
    CHECK(first == "good");
  }
  SUBCASE("a model whose metadata says max_len 0 is refused at load") {
    using namespace classifier;
    text::LabelSet labels;
    auto examples = text::read_tsv(write("maxlen.tsv", small_data()), labels);
    Config config;
    config.epochs = 1;
    config.dim = 4;
    config.hidden = 4;
    Model m = train(examples, labels, nullptr, config, {}, nullptr);
    m.max_len = 0;
    m.save(kDir + "/maxlen0");
    CHECK_THROWS_WITH_AS(Model::load(kDir + "/maxlen0"),
                         doctest::Contains("maxlen0/model.safetensors: metadata 'max_len' is 0; "
                                           "it must be positive"),
                         ember::IoError);
    auto [out, status] =
        run("eval --model " + kDir + "/maxlen0 --data " + write("m.tsv", small_data()));
    INFO(out);
    CHECK(status != 0);
    CHECK(out.find("'max_len' is 0") != std::string::npos);
  }
  SUBCASE("--lr 1e30: the loss stops being finite; a clear error, exit 1, nothing saved") {
    std::filesystem::remove_all(kDir + "/diverged");
    auto [out, status] =
        run("train --train " + write("lr.tsv", small_data()) +
            " --lr 1e30 --epochs 3 --dim 4 --hidden 4 --out " + kDir + "/diverged");
    INFO(out);
    CHECK(status == 1);
    CHECK(out.find("training diverged; try a smaller --lr. Nothing was saved") !=
          std::string::npos);
    CHECK(!std::filesystem::exists(kDir + "/diverged/model.safetensors"));
  }
  SUBCASE("an unusable --out is reported before training") {
    std::string blocker = write("blocker", "a file, not a directory\n");
    auto [out, status] = run("train --train " + write("o.tsv", small_data()) +
                             " --epochs 1 --out " + blocker + "/model");
    INFO(out);
    CHECK(status != 0);
    CHECK(out.find("--out: cannot write the model to '" + blocker + "/model': '" + blocker +
                   "' is not a directory") != std::string::npos);
    CHECK(out.find("training on") == std::string::npos);
  }
  SUBCASE("a --dim too large for memory names the argument (17)") {
    auto [out, status] =
        run("train --train " + write("dim.tsv", small_data()) +
            " --epochs 1 --hidden 1 --buckets 10 --dim 100000000000 --out " + kDir + "/huge");
    INFO(out);
    CHECK(status == 1);
    CHECK(out.find("out of memory") != std::string::npos);
    CHECK(out.find("--dim 100000000000") != std::string::npos);
  }
}

TEST_CASE("eval and predict --int8: Linear and LSTM layers in int8, the same predictions") {
  std::string data = write("int8.tsv", small_data());
  for (const char* kind : {"bag", "lstm"}) {
    INFO(kind);
    const std::string model = kDir + "/int8-" + kind;
    REQUIRE(run("train --train " + data + " --epochs 15 --dim 16 --hidden 16 --buckets 1000 " +
                "--model " + kind + " --out " + model)
                .second == 0);
    auto [out, status] = run("eval --int8 --model " + model + " --data " + data);
    INFO(out);
    CHECK(status == 0);
    CHECK(out.find("accuracy 1.0000") != std::string::npos);
    CHECK(out.find(std::string("int8 dynamic: ") +
                   (std::string(kind) == "bag" ? "fc1, fc2 (" : "lstm, fc2 (")) !=
          std::string::npos);
    auto [p8, s8] = run("predict --int8 --model " + model + " \"정말 좋았어요\" \"awful film\"");
    CHECK(s8 == 0);
    CHECK(p8.find("good\tgood=") != std::string::npos);
    CHECK(p8.find("\nbad\tbad=") != std::string::npos);
  }
}
