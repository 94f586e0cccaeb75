// ember-classify: train, evaluate, quantize and use a sentence classifier from the command
// line. With no arguments it trains on the bundled data and prints the test accuracy. The
// options and their help come from one place, CLI11's definitions below.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <new>
#include <thread>

#include "classifier.hpp"
#include "report.hpp"

using namespace classifier;

namespace {

bool on_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

// The model's size comes from these arguments; the system's refusal names none of them.
ember::Error out_of_memory(const Config& c, const std::string& detail) {
  return ember::Error("train: out of memory: the model needs (vocabulary + --buckets) x --dim " +
                      std::to_string(c.dim) + " floats for its table and --hidden " +
                      std::to_string(c.hidden) +
                      " x --dim for its layer; lower --dim, --buckets or --hidden" + detail);
}

std::string bundled(const std::string& file) {
  return std::string(EMBER_CLASSIFIER_DATA_DIR) + "/" + file;
}

// "--epochs: expected a positive integer, got 'zero'" (CLI11's PositiveNumber would print its
// range up to 1.8e308).
const CLI::Validator kPositive(
    [](std::string& v) -> std::string {
      size_t used = 0;
      try {
        if (std::stoll(v, &used) > 0 && used == v.size()) return "";
      } catch (const std::exception&) {
      }
      return "expected a positive integer, got '" + v + "'";
    },
    "POSITIVE");
const CLI::Validator kNonNegative(
    [](std::string& v) -> std::string {
      size_t used = 0;
      try {
        if (std::stoll(v, &used) >= 0 && used == v.size()) return "";
      } catch (const std::exception&) {
      }
      return "expected a non-negative integer, got '" + v + "'";
    },
    "NON-NEGATIVE");
const CLI::Validator kPositiveReal(
    [](std::string& v) -> std::string {
      size_t used = 0;
      try {
        double x = std::stod(v, &used);
        if (x > 0 && std::isfinite(x) && used == v.size()) return "";
      } catch (const std::exception&) {
      }
      return "expected a positive number, got '" + v + "'";
    },
    "POSITIVE");

struct TrainArgs {
  Config config;
  std::string train, valid, test, out = "ember-model", lr_decay = "linear";
  double lr = 0;
};

void add_train_options(CLI::App& cmd, TrainArgs& a) {
  Config& c = a.config;
  c.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Checked after parsing, so that an unknown option is reported before a missing --train.
  cmd.add_option("--train", a.train, "training data, label<TAB>text per line (required)");
  cmd.add_option("--valid", a.valid, "validation data, scored after every epoch");
  cmd.add_option("--test", a.test, "test data, scored once after training");
  cmd.add_option("--out", a.out, "where the model goes")->capture_default_str();
  cmd.add_option("--epochs", c.epochs, "passes over the training data")
      ->check(kPositive)
      ->capture_default_str();
  cmd.add_option("--dim", c.dim, "embedding size (the vectors' size with --pretrained)")
      ->check(kPositive)
      ->capture_default_str();
  cmd.add_option("--hidden", c.hidden, "hidden layer size")
      ->check(kPositive)
      ->capture_default_str();
  cmd.add_option("--lr", a.lr, "learning rate (default 0.01 for adam, 0.5 for sgd)")
      ->check(kPositiveReal);
  cmd.add_option("--lr-decay", a.lr_decay,
                 "linear: the learning rate falls linearly to 0 over the run, as fastText's")
      ->check(CLI::IsMember({"linear", "none"}))
      ->capture_default_str();
  cmd.add_option("--batch-size", c.batch_size, "sentences per step")
      ->check(kPositive)
      ->capture_default_str();
  cmd.add_option("--max-len", c.max_len, "words kept per sentence")
      ->check(kPositive)
      ->capture_default_str();
  cmd.add_option("--model", c.model,
                 "bag (fastText's mean of word and n-gram vectors), cnn, lstm or transformer "
                 "(the sequence models read words in order, without n-grams)")
      ->check(CLI::IsMember({"bag", "cnn", "lstm", "transformer"}))
      ->capture_default_str();
  cmd.add_option("--optimizer", c.optimizer, "adam or sgd")
      ->check(CLI::IsMember({"adam", "sgd"}))
      ->capture_default_str();
  cmd.add_flag("--bf16", c.bf16,
               "train under bfloat16 autocast: Linear layers and the sequence models' "
               "projections multiply bfloat16 operands with float32 sums (faster where the CPU "
               "multiplies bfloat16 natively; weights and the saved model stay float32)");
  cmd.add_flag("--dense", c.dense,
               "dense embedding gradients. By default the table's gradient is row-sparse and "
               "Adam/SGD update only the rows a batch used (lazy Adam): a step costs the "
               "batch's words, not the vocabulary (dense Adam rewrites every row of a "
               "100k-word table each step, ~50x slower on such data)");
  cmd.add_option("--word-ngrams", c.ngrams.word_ngrams,
                 "max length of word n-grams, hashed into --buckets (1: words only)")
      ->check(CLI::Range(1, 6))
      ->capture_default_str();
  cmd.add_option("--buckets", c.ngrams.buckets,
                 "hash buckets shared by word and char n-grams (default: twice the training "
                 "set's tokens, at most 100000)")
      ->check(kNonNegative);
  cmd.add_option("--minn", c.ngrams.minn, "min length of character n-grams, in code points")
      ->check(kNonNegative)
      ->capture_default_str();
  cmd.add_option("--maxn", c.ngrams.maxn, "max length of character n-grams (0: none)")
      ->check(CLI::Range(0, 10))
      ->capture_default_str();
  cmd.add_option("--min-count", c.min_count, "words seen fewer times get no vector of their own")
      ->check(kPositive)
      ->capture_default_str();
  cmd.add_option("--threads", c.threads,
                 "threads for tokenising and the larger kernels; every thread count gives the "
                 "same model, bit for bit (work is split into fixed slices, never raced)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd.add_option("--early-stop", c.early_stop,
                 "with --valid: stop after this many epochs without a better validation "
                 "accuracy and keep the best epoch's model (0: off)")
      ->check(kNonNegative)
      ->capture_default_str();
  auto* pretrained = cmd.add_option("--pretrained", c.pretrained,
                                    "word2vec (text or binary) or GloVe vectors for the table");
  cmd.add_flag("--freeze", c.freeze, "keep the pretrained vectors fixed")->needs(pretrained);
  cmd.add_option("--seed", c.seed, "seed for initialisation and shuffling")->capture_default_str();
}

// Where the model goes must be usable before the training, not found unusable after it: an
// existing directory we may write to, or a path whose nearest existing ancestor is one.
void check_out(const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::absolute(out, ec);
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  std::string problem;
  if (!fs::is_directory(dir, ec))
    problem = "'" + dir.string() + "' is not a directory";
  else if (::access(dir.c_str(), W_OK | X_OK) != 0)
    problem = "'" + dir.string() + "' is not writable";
  if (!problem.empty())
    throw CLI::ValidationError("--out", "cannot write the model to '" + out + "': " + problem);
}

int train_command(TrainArgs& a) {
  Config& c = a.config;
  if (a.train.empty()) throw CLI::RequiredError("--train");
  c.parallel = Parallel::current();  // under mpirun: data-parallel, rank 0 prints and writes
  c.threads = threads_per_rank(c.threads);
  if (a.lr > 0) c.lr = a.lr;
  c.lr_decay = a.lr_decay == "linear";
  if (c.ngrams.maxn > 0 && (c.ngrams.minn < 1 || c.ngrams.minn > c.ngrams.maxn))
    throw CLI::ValidationError("--minn", "need 1 <= --minn <= --maxn, got --minn " +
                                             std::to_string(c.ngrams.minn) + " --maxn " +
                                             std::to_string(c.ngrams.maxn));
  if (c.early_stop > 0 && a.valid.empty())
    throw CLI::ValidationError("--early-stop", "needs --valid");
  if (c.parallel.is_root()) check_out(a.out);
  text::LabelSet labels;
  std::vector<text::Example> train_set = text::read_tsv(a.train, labels, true);
  std::vector<text::Example> valid_set, test_set;
  if (!a.valid.empty()) valid_set = text::read_tsv(a.valid, labels, false);
  if (!a.test.empty()) test_set = text::read_tsv(a.test, labels, false);
  std::cout << "training on " << train_set.size() << " sentences, " << labels.size() << " classes";
  if (!valid_set.empty()) std::cout << ", validating on " << valid_set.size();
  std::cout << "\n" << c.parallel.describe(c.batch_size);

  Progress progress(std::cout, on_terminal(), c.epochs);
  TrainCallbacks callbacks;
  callbacks.on_batch = [&](int64_t e, int64_t b, int64_t n, double l, double acc, double sps) {
    progress.batch(e, b, n, l, acc, sps);
  };
  callbacks.on_epoch = [&](const EpochStats& s) { progress.epoch(s); };
  callbacks.on_message = [](const std::string& m) { std::cout << m << "\n"; };
  std::vector<EpochStats> history;
  auto train_or_explain = [&] {
    try {
      return train(train_set, labels, valid_set.empty() ? nullptr : &valid_set, c, callbacks,
                   &history);
    } catch (const std::bad_alloc&) {
      throw out_of_memory(c, "");
    } catch (const ember::OutOfMemoryError& e) {
      throw out_of_memory(c, std::string(" (") + e.what() + ")");
    }
  };
  Model model = train_or_explain();
  if (!c.parallel.is_root()) return 0;
  model.save(a.out);
  write_history_csv(history, a.out + "/history.csv");
  write_curves_svg(history, a.out + "/curves.svg");
  std::cout << "saved " << a.out
            << "/{model.safetensors,vocab.txt,labels.txt,history.csv,curves.svg}\n";
  if (!test_set.empty()) {
    Evaluation e = evaluate(model, test_set);
    std::printf("test accuracy %.4f (%zu sentences)\n", e.accuracy, test_set.size());
  }
  return 0;
}

struct UseArgs {
  std::string model, data, out;
  bool int8 = false;  // Linear and LSTM layers in int8 (nn::quantize_dynamic)
  int64_t k = 1;
  double threshold = 0;
  std::vector<std::string> sentences;
};

void add_model_option(CLI::App& cmd, UseArgs& a) {
  cmd.add_option("--model", a.model, "a directory written by 'train' or 'quantize'")->required();
}

void add_top_k_options(CLI::App& cmd, UseArgs& a) {
  cmd.add_option("--k", a.k, "labels per sentence, most probable first (-1: all)")
      ->check(CLI::Range(-1, 1 << 30))
      ->capture_default_str();
  cmd.add_option("--threshold", a.threshold, "leave out labels less probable than this")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
}

void add_int8_option(CLI::App& cmd, UseArgs& a) {
  cmd.add_flag("--int8", a.int8,
               "run the Linear and LSTM layers in int8: per-channel int8 weights, inputs "
               "quantized per batch (nn::quantize_dynamic; inference only)");
}

// With --int8: quantizes the network's Linear and LSTM layers and says which, on what.
Model load_for_use(const UseArgs& a) {
  Model model = Model::load(a.model);
  if (a.int8) {
    std::vector<std::string> names = nn::quantize_dynamic(*model.net);
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    std::cerr << "int8 dynamic: " << (list.empty() ? "no Linear or LSTM layer" : list) << " ("
              << ember::quantized::int8_engine_name() << ")\n";
  }
  return model;
}

int eval_command(const UseArgs& a) {
  if (a.k == 0) throw CLI::ValidationError("--k", "must be -1 or positive, got 0");
  Model model = load_for_use(a);
  std::vector<text::Example> data = text::read_tsv(a.data, model.labels, false);
  print_evaluation(std::cout, evaluate(model, data, a.k, a.threshold), model.labels);
  return 0;
}

int predict_command(const UseArgs& a) {
  if (a.k == 0) throw CLI::ValidationError("--k", "must be -1 or positive, got 0");
  Model model = load_for_use(a);
  std::vector<std::string> sentences = a.sentences;
  if (sentences.empty()) {
    text::LineReader in(std::cin, "<stdin>");
    std::string line;
    while (in.next(line))
      if (!line.empty()) sentences.push_back(line);
  }
  if (sentences.empty())
    throw CLI::ValidationError("predict", "no sentences given (arguments or stdin)");
  for (const std::string& s : sentences) {
    size_t bad = 0;
    if (!text::is_valid_utf8(s, &bad))
      throw ember::ValueError("predict: invalid UTF-8 at byte " + std::to_string(bad) + " of '" +
                              s + "'");
  }
  Tensor probs = model.probabilities(sentences);
  // best label, then the top k above the threshold as label=probability, then the sentence.
  auto tops = top_k(probs, a.k, a.threshold);
  std::vector<int64_t> best = argmax(probs, 1).to_vector();
  for (size_t i = 0; i < sentences.size(); ++i) {
    std::cout << model.labels.name(best[i]) << "\t";
    for (size_t j = 0; j < tops[i].size(); ++j) {
      char p[32];
      std::snprintf(p, sizeof p, "%.4f", tops[i][j].second);
      std::cout << (j ? " " : "") << model.labels.name(tops[i][j].first) << "=" << p;
    }
    std::cout << "\t" << sentences[i] << "\n";
  }
  return 0;
}

int quantize_command(const UseArgs& a) {
  Model model = Model::load(a.model);
  std::string out = a.out.empty() ? a.model + "-int8" : a.out;
  model.save(out, /*quantized=*/true);
  auto bytes = [](const std::string& dir) {
    uintmax_t total = 0;
    for (const char* f : {"model.safetensors", "table.q8", "vocab.txt", "labels.txt"})
      if (std::filesystem::exists(dir + "/" + f))
        total += std::filesystem::file_size(dir + "/" + f);
    return static_cast<double>(total);
  };
  std::printf("saved %s: %.2f MB (was %.2f MB)\n", out.c_str(), bytes(out) / 1e6,
              bytes(a.model) / 1e6);
  if (!a.data.empty()) {
    Model quantized = Model::load(out);
    text::LabelSet labels = model.labels;
    std::vector<text::Example> data = text::read_tsv(a.data, labels, false);
    double before = evaluate(model, data).accuracy, after = evaluate(quantized, data).accuracy;
    std::printf("accuracy on %s: %.4f -> %.4f (%+.4f)\n", a.data.c_str(), before, after,
                after - before);
  }
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{
      "Train, evaluate and use a sentence classifier (fastText's model with a hidden layer).\n"
      "Data is label<TAB>text per line. With no command, trains on the bundled data and prints "
      "the test accuracy.",
      "ember-classify"};
  app.require_subcommand(0, 1);
  app.footer("Run 'ember-classify <command> --help' for a command's options.");
  TrainArgs train_args;
  auto* train = app.add_subcommand("train", "train a classifier on label<TAB>text lines");
  add_train_options(*train, train_args);
  UseArgs eval_args, predict_args, quantize_args;
  auto* eval = app.add_subcommand(
      "eval", "accuracy, P@k and R@k, per-class precision/recall/F1 and the confusion matrix");
  add_model_option(*eval, eval_args);
  eval->add_option("--data", eval_args.data, "label<TAB>text lines with labels the model knows")
      ->required();
  add_top_k_options(*eval, eval_args);
  add_int8_option(*eval, eval_args);
  auto* predict = app.add_subcommand(
      "predict", "labels and probabilities for sentences (arguments, or lines on stdin)");
  add_model_option(*predict, predict_args);
  add_top_k_options(*predict, predict_args);
  add_int8_option(*predict, predict_args);
  predict->add_option("sentences", predict_args.sentences,
                      "sentences to classify; put them after -- if one starts with -");
  auto* quantize = app.add_subcommand(
      "quantize", "write a copy of a model with an int8 (row-wise scaled) embedding table");
  add_model_option(*quantize, quantize_args);
  quantize->add_option("--out", quantize_args.out, "where the copy goes (default MODEL-int8)");
  quantize->add_option("--data", quantize_args.data,
                       "label<TAB>text lines: print the accuracy before and after");
  try {
    app.parse(argc, argv);
    if (*train) return train_command(train_args);
    if (*eval) return eval_command(eval_args);
    if (*predict) return predict_command(predict_args);
    if (*quantize) return quantize_command(quantize_args);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or the help); a usage error exits 2, as before CLI11.
    return app.exit(e) == 0 ? 0 : 2;
  }
  std::cout << "No command given: training on the bundled sentiment data (see --help).\n";
  TrainArgs bundled_args;
  bundled_args.train = bundled("train.tsv");
  bundled_args.test = bundled("test.tsv");
  return train_command(bundled_args);
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<ember::distributed::Environment> env;
  try {
    env = start_distributed(argc, argv, "ember-classify");
    return run(argc, argv);
  } catch (const std::exception& e) {
    if (env) env->abort(std::string("ember-classify: error: ") + e.what());  // stops every rank
    std::cerr << "ember-classify: error: " << e.what() << "\n";
    return 1;
  }
}
