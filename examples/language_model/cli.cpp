// ember-lm: train a GPT-2-shaped language model on a text file, generate from a prompt, measure
// perplexity, and fine-tune a BERT checkpoint as a sentence classifier. Checkpoints are folders
// as the Hugging Face hub ships them (config.json, model.safetensors, vocab.json + merges.txt or
// vocab.txt). The conventions are ember-classify's: CLI11, a progress bar, history.csv and
// curves.svg beside the model, exit 1 with "ember-lm: error: ..." on bad input, and
// data-parallel training under mpirun.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "lm.hpp"
#include "parallel.hpp"

namespace {

bool on_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

int run(int argc, char** argv) {
  CLI::App app{"Train, sample from and evaluate GPT-2-shaped language models; fine-tune BERT.",
               "ember-lm"};
  app.require_subcommand(1, 1);
  app.footer("Run 'ember-lm <command> --help' for a command's options.");

  lm::TrainOptions t;
  auto* train = app.add_subcommand("train", "train a GPT-2-shaped model on a text file");
  train->add_option("--text", t.text, "the training text (UTF-8)")->required();
  train->add_option("--tokenizer", t.tokenizer,
                    "folder with vocab.json + merges.txt (default: trained on the text)");
  train->add_option("--vocab-size", t.vocab_size, "size of the BPE vocabulary to train")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--from", t.from, "continue from a checkpoint folder instead of from scratch");
  train->add_option("--out", t.out, "where the model goes")->capture_default_str();
  train->add_option("--layers", t.layers, "transformer blocks")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--dim", t.dim, "model width (n_embd)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--heads", t.heads, "attention heads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--context", t.context, "tokens per training block (n_positions)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--epochs", t.epochs, "passes over the text")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--batch", t.batch, "blocks per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--max-steps", t.max_steps, "stop after this many steps (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  train->add_option("--lr", t.lr, "AdamW learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--dropout", t.dropout, "dropout of the new model")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  train->add_option("--seed", t.seed, "seed of init, shuffling and dropout")->capture_default_str();
  train->add_flag("--checkpointing", t.checkpointing,
                  "recompute each block in backward (less memory, more time)");

  lm::GenerateOptions g;
  auto* gen = app.add_subcommand("generate", "continue a prompt with a trained model");
  gen->add_option("--model", g.model, "checkpoint folder")->required();
  gen->add_option("--prompt", g.prompt, "the text to continue")->required();
  gen->add_option("--max-new-tokens", g.max_new_tokens, "tokens to add")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  gen->add_option("--temperature", g.temperature, "sampling temperature")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  gen->add_option("--top-k", g.top_k, "sample among the k most likely (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  gen->add_option("--top-p", g.top_p, "sample from the smallest set with this mass")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  gen->add_option("--repetition-penalty", g.repetition_penalty, "> 1 discourages repeats")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  gen->add_option("--seed", g.seed, "sampling seed: the same seed gives the same text")
      ->capture_default_str();
  gen->add_flag("--greedy", g.greedy, "always take the most likely token");

  std::string eval_model, eval_text;
  auto* eval = app.add_subcommand("eval", "perplexity of a model on a text file");
  eval->add_option("--model", eval_model, "checkpoint folder")->required();
  eval->add_option("--text", eval_text, "the text to score")->required();

  lm::FinetuneOptions f;
  auto* fine = app.add_subcommand("finetune-classify",
                                  "fine-tune a BERT checkpoint on label<TAB>text lines");
  fine->add_option("--model", f.model, "BERT folder: config.json, model.safetensors, vocab.txt")
      ->required();
  fine->add_option("--train", f.train, "label<TAB>text lines")->required();
  fine->add_option("--valid", f.valid, "label<TAB>text lines scored after every epoch");
  fine->add_option("--out", f.out, "where the classifier goes")->capture_default_str();
  fine->add_option("--epochs", f.epochs, "passes over the data")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fine->add_option("--batch", f.batch, "sentences per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fine->add_option("--max-length", f.max_length, "tokens per sentence, [CLS] and [SEP] included")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fine->add_option("--lr", f.lr, "AdamW learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fine->add_option("--seed", f.seed, "seed of the new layers and the shuffling")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*train) lm::train(t, std::cout, on_terminal());
  if (*gen) std::cout << lm::generate_text(g) << "\n";
  if (*eval) lm::evaluate(eval_model, eval_text, std::cout);
  if (*fine) lm::finetune_classify(f, std::cout, on_terminal());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<ember::distributed::Environment> env;
  try {
    // Under mpirun, train and finetune-classify are data-parallel (docs/distributed.md);
    // rank 0 alone prints and writes, and each rank keeps to its share of the cores.
    env = classifier::start_distributed(argc, argv, "ember-lm");
    if (env) ember::set_num_threads(classifier::threads_per_rank(ember::get_num_threads()));
    return run(argc, argv);
  } catch (const std::exception& e) {
    if (env) env->abort(std::string("ember-lm: error: ") + e.what());  // stops every rank
    std::cerr << "ember-lm: error: " << e.what() << "\n";
    return 1;
  }
}
