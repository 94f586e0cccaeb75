// Tokenizer throughput on one thread: WordPiece and byte-level BPE encoding of ~10 MB of
// distinct multilingual text (every fortune file under /usr/share/games/fortunes, record by
// record), starting from an empty word cache, plus the time to train a BPE on the same text.
// Usage: ember_tokenizer_bench [MB=10] [bpe_vocab=8000]
//   (run from the source tree root, or set EMBER_TOKENIZER_DATA to tests/golden/tokenizers)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <ember/ember.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ember::text;
using Clock = std::chrono::steady_clock;

namespace {

// CPU seconds of this thread: on a shared machine wall time counts other processes' turns.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Records of the fortune files (the ".u8" UTF-8 spellings), in path order, up to `limit` bytes.
std::vector<std::string> corpus(size_t limit, size_t& bytes) {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::recursive_directory_iterator("/usr/share/games/fortunes"))
    if (e.is_regular_file() && e.path().extension() == ".u8") paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> records;
  bytes = 0;
  for (const std::string& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str(), record;
    if (!is_valid_utf8(text)) continue;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line != "%") {
        record += line + "\n";
        continue;
      }
      bytes += record.size();
      records.push_back(std::move(record));
      record.clear();
      if (bytes >= limit) return records;
    }
  }
  return records;
}

void measure(const char* name, const Tokenizer& tok, const std::vector<std::string>& records,
             size_t bytes) {
  auto start = Clock::now();
  double cpu = cpu_seconds();
  size_t tokens = 0;
  for (const std::string& r : records) tokens += tok.encode(r, false).size();
  cpu = cpu_seconds() - cpu;
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "%-28s %7.2f MB/s %10.0f tokens/s  (%zu tokens; %.2f s CPU, %.2f s wall: %.2f MB/s)\n", name,
      bytes / cpu / 1e6, tokens / cpu, tokens, cpu, s, bytes / s / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  const double mb = argc > 1 ? std::atof(argv[1]) : 10;
  const int64_t bpe_vocab = argc > 2 ? std::atoll(argv[2]) : 8000;
  const char* env = std::getenv("EMBER_TOKENIZER_DATA");
  const std::string data = env ? env : "tests/golden/tokenizers";
  size_t bytes = 0;
  auto records = corpus(static_cast<size_t>(mb * 1e6), bytes);
  std::printf("corpus: %zu records, %.2f MB of fortunes; 1 thread; rates per CPU second\n",
              records.size(), bytes / 1e6);

  auto wordpiece = WordPieceTokenizer::from_vocab_file(data + "/vocab.txt");
  measure("WordPiece (test vocab.txt)", wordpiece, records, bytes);
  auto small = ByteLevelBPETokenizer::from_files(data + "/vocab.json", data + "/merges.txt");
  measure("BPE (test vocab, 800)", small, records, bytes);

  auto start = Clock::now();
  double cpu = cpu_seconds();
  auto trained = ByteLevelBPETokenizer::train(records, bpe_vocab);
  cpu = cpu_seconds() - cpu;
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("BPE training, vocab %lld     %.2f s CPU (%.2f s wall)\n",
              static_cast<long long>(bpe_vocab), cpu, s);
  measure("BPE (trained here)", trained, records, bytes);
  return 0;
}
