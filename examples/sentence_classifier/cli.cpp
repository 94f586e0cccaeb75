// ember-classify: train, evaluate and use a sentence classifier from the command line.
// With no arguments it trains on the bundled data and prints the test accuracy.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "classifier.hpp"
#include "report.hpp"

using namespace classifier;

namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kMainHelp = R"(usage: ember-classify <command> [options]

Commands:
  train     train a classifier on label<TAB>text lines
  eval      accuracy, per-class precision/recall/F1 and the confusion matrix
  predict   label and probabilities for sentences (arguments, or lines on stdin)

With no command, trains on the bundled data and prints the test accuracy.
Run 'ember-classify <command> --help' for a command's options.
)";

const char* kTrainHelp = R"(usage: ember-classify train --train PATH [options]

  --train PATH        training data, label<TAB>text per line (required)
  --valid PATH        validation data, scored after every epoch
  --test PATH         test data, scored once after training
  --epochs N          passes over the training data (default 12)
  --dim D             embedding size (default 64; the vectors' size with --pretrained)
  --hidden H          hidden layer size (default 128)
  --lr X              learning rate (default 0.01 for adam, 0.5 for sgd)
  --batch-size B      sentences per step (default 32)
  --max-len L         tokens kept per sentence (default 64)
  --optimizer NAME    adam or sgd (default adam)
  --sparse            row-sparse embedding gradients (lazy Adam / SGD rows)
  --pretrained PATH   word2vec (text or binary) or GloVe vectors for the embedding
  --freeze            keep the pretrained embedding fixed
  --seed S            seed for initialisation and shuffling (default 1)
  --out DIR           where the model goes (default ember-model)
)";

const char* kEvalHelp = R"(usage: ember-classify eval --model DIR --data PATH

  --model DIR   a directory written by 'train'
  --data PATH   label<TAB>text lines with labels the model knows
)";

const char* kPredictHelp = R"(usage: ember-classify predict --model DIR [SENTENCE ...]

  --model DIR   a directory written by 'train'
Sentences come from the arguments, or one per line on stdin when there are none.
)";

struct Args {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::vector<std::string> positional;

  bool has(const std::string& k) const { return values.count(k) || flags.count(k); }
  std::string get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
  std::string require(const std::string& k) const {
    if (!values.count(k)) throw UsageError("missing --" + k);
    return values.at(k);
  }
  int64_t positive(const std::string& k, int64_t fallback) const {
    if (!values.count(k)) return fallback;
    std::string v = values.at(k);
    size_t used = 0;
    int64_t n = 0;
    try {
      n = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || n <= 0)
      throw UsageError("--" + k + ": expected a positive integer, got '" + v + "'");
    return n;
  }
};

Args parse(int argc, char** argv, int first, const std::set<std::string>& value_options,
           const std::set<std::string>& flag_options) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      a.positional.push_back(arg);
      continue;
    }
    std::string key = arg.substr(2);
    if (flag_options.count(key)) {
      a.flags.insert(key);
    } else if (value_options.count(key)) {
      if (i + 1 >= argc) throw UsageError("--" + key + " needs a value");
      a.values[key] = argv[++i];
    } else {
      throw UsageError("unknown option --" + key);
    }
  }
  return a;
}

bool on_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

std::string bundled(const std::string& file) {
  return std::string(EMBER_CLASSIFIER_DATA_DIR) + "/" + file;
}

int train_command(const Args& a) {
  Config c;
  c.epochs = a.positive("epochs", c.epochs);
  c.dim = a.positive("dim", c.dim);
  c.hidden = a.positive("hidden", c.hidden);
  c.batch_size = a.positive("batch-size", c.batch_size);
  c.max_len = a.positive("max-len", c.max_len);
  c.seed = static_cast<uint64_t>(a.positive("seed", 1));
  if (a.values.count("lr")) {
    std::string v = a.get("lr");
    char* end = nullptr;
    double lr = std::strtod(v.c_str(), &end);
    if (end != v.c_str() + v.size() || !(lr > 0))
      throw UsageError("--lr: expected a positive number, got '" + v + "'");
    c.lr = lr;
  }
  c.optimizer = a.get("optimizer", "adam");
  if (c.optimizer != "adam" && c.optimizer != "sgd")
    throw UsageError("--optimizer: expected adam or sgd, got '" + c.optimizer + "'");
  c.sparse = a.flags.count("sparse") > 0;
  c.pretrained = a.get("pretrained");
  c.freeze = a.flags.count("freeze") > 0;
  if (c.freeze && c.pretrained.empty()) throw UsageError("--freeze needs --pretrained");
  std::string out = a.get("out", "ember-model");

  text::LabelSet labels;
  std::vector<text::Example> train_set = text::read_tsv(a.require("train"), labels, true);
  std::vector<text::Example> valid_set, test_set;
  if (a.has("valid")) valid_set = text::read_tsv(a.get("valid"), labels, false);
  if (a.has("test")) test_set = text::read_tsv(a.get("test"), labels, false);
  std::cout << "training on " << train_set.size() << " sentences, " << labels.size() << " classes";
  if (!valid_set.empty()) std::cout << ", validating on " << valid_set.size();
  std::cout << "\n";

  Progress progress(std::cout, on_terminal(), c.epochs);
  TrainCallbacks callbacks;
  callbacks.on_batch = [&](int64_t e, int64_t b, int64_t n, double l, double acc, double sps) {
    progress.batch(e, b, n, l, acc, sps);
  };
  callbacks.on_epoch = [&](const EpochStats& s) { progress.epoch(s); };
  callbacks.on_message = [](const std::string& m) { std::cout << m << "\n"; };
  std::vector<EpochStats> history;
  Model model =
      train(train_set, labels, valid_set.empty() ? nullptr : &valid_set, c, callbacks, &history);
  model.save(out);
  write_history_csv(history, out + "/history.csv");
  write_curves_svg(history, out + "/curves.svg");
  std::cout << "saved " << out
            << "/{model.safetensors,vocab.txt,labels.txt,history.csv,curves.svg}\n";
  if (!test_set.empty()) {
    Evaluation e = evaluate(model, test_set);
    std::printf("test accuracy %.4f (%zu sentences)\n", e.accuracy, test_set.size());
  }
  return 0;
}

int eval_command(const Args& a) {
  Model model = Model::load(a.require("model"));
  std::vector<text::Example> data = text::read_tsv(a.require("data"), model.labels, false);
  print_evaluation(std::cout, evaluate(model, data), model.labels);
  return 0;
}

int predict_command(const Args& a) {
  Model model = Model::load(a.require("model"));
  std::vector<std::string> sentences = a.positional;
  if (sentences.empty()) {
    std::string line;
    while (std::getline(std::cin, line))
      if (!line.empty()) sentences.push_back(line);
  }
  if (sentences.empty()) throw UsageError("no sentences given (arguments or stdin)");
  for (const std::string& s : sentences) {
    size_t bad = 0;
    if (!text::is_valid_utf8(s, &bad))
      throw ember::ValueError("predict: invalid UTF-8 at byte " + std::to_string(bad) + " of '" +
                              s + "'");
  }
  Tensor probs = model.probabilities(sentences);
  std::vector<int64_t> best = argmax(probs, 1).to_vector();
  const int64_t C = model.labels.size();
  for (size_t i = 0; i < sentences.size(); ++i) {
    std::cout << model.labels.name(best[i]) << "\t";
    for (int64_t c = 0; c < C; ++c) {
      char p[32];
      std::snprintf(p, sizeof p, "%.4f", probs.data().data()[static_cast<int64_t>(i) * C + c]);
      std::cout << (c ? " " : "") << model.labels.name(c) << "=" << p;
    }
    std::cout << "\t" << sentences[i] << "\n";
  }
  return 0;
}

int run(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "";
  const std::set<std::string> train_values = {
      "train",      "valid",   "test",      "epochs",     "dim",  "hidden", "lr",
      "batch-size", "max-len", "optimizer", "pretrained", "seed", "out"};
  const std::set<std::string> help = {"help"};
  if (command.empty()) {
    std::cout << "No command given: training on the bundled sentiment data (see --help).\n";
    const char* defaults[] = {"ember-classify", "train", "--train", nullptr, "--test", nullptr};
    std::string train_path = bundled("train.tsv"), test_path = bundled("test.tsv");
    defaults[3] = train_path.c_str();
    defaults[5] = test_path.c_str();
    return train_command(parse(6, const_cast<char**>(defaults), 2, train_values, {}));
  }
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kMainHelp;
    return 0;
  }
  if (command == "train") {
    Args a = parse(argc, argv, 2, train_values, {"sparse", "freeze", "help"});
    if (a.flags.count("help")) return std::cout << kTrainHelp, 0;
    if (!a.positional.empty()) throw UsageError("unexpected argument '" + a.positional[0] + "'");
    return train_command(a);
  }
  if (command == "eval") {
    Args a = parse(argc, argv, 2, {"model", "data"}, help);
    if (a.flags.count("help")) return std::cout << kEvalHelp, 0;
    return eval_command(a);
  }
  if (command == "predict") {
    Args a = parse(argc, argv, 2, {"model"}, help);
    if (a.flags.count("help")) return std::cout << kPredictHelp, 0;
    return predict_command(a);
  }
  throw UsageError("unknown command '" + command + "'");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "ember-classify: " << e.what() << "\n(run 'ember-classify --help')\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ember-classify: error: " << e.what() << "\n";
    return 1;
  }
}
