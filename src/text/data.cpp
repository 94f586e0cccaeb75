// TSV datasets, label sets, padding, shuffles and splits.
#include "ember/text/data.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "ember/error.hpp"
#include "ember/io/file.hpp"
#include "ember/text/lines.hpp"

namespace ember::text {

LabelSet::LabelSet(std::vector<std::string> names) {
  for (const std::string& n : names) id(n, true);
}

int64_t LabelSet::id(const std::string& name, bool grow) {
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  EMBER_CHECK_VALUE(grow, "label '", name, "' is not one of the ", names_.size(),
                    " labels the model knows");
  names_.push_back(name);
  return ids_[name] = static_cast<int64_t>(names_.size()) - 1;
}

const std::string& LabelSet::name(int64_t id) const {
  EMBER_CHECK_INDEX(id >= 0 && id < size(), "LabelSet: class ", id, " out of range for ", size(),
                    " labels");
  return names_[static_cast<size_t>(id)];
}

void LabelSet::save(const std::string& path) const {
  std::string bytes;
  for (const std::string& n : names_) bytes += n + "\n";
  io::write_file_atomically(path, bytes);
}

LabelSet LabelSet::load(const std::string& path) {
  LineReader in(path, "LabelSet::load");
  LabelSet labels;
  std::string line;
  while (in.next(line)) {
    EMBER_CHECK_IO(!line.empty() && !labels.ids_.count(line), in.where(),
                   ": empty or repeated label '", line, "'");
    labels.id(line, true);
  }
  EMBER_CHECK_IO(labels.size() > 0, "LabelSet::load: '", path, "' holds no labels");
  return labels;
}

std::vector<Example> read_tsv(const std::string& path, LabelSet& labels, bool grow_labels) {
  LineReader in(path, "read_tsv");
  std::vector<Example> examples;
  std::string line;
  while (in.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    size_t tab = line.find('\t');
    EMBER_CHECK_IO(tab != std::string::npos && tab > 0, in.where(),
                   ": expected label<TAB>text, found no tab");
    try {
      examples.push_back({line.substr(tab + 1), labels.id(line.substr(0, tab), grow_labels)});
    } catch (const ValueError& e) {
      throw IoError(detail::cat(in.where(), ": ", e.what()));
    }
  }
  EMBER_CHECK_IO(!examples.empty(), "read_tsv: '", path, "' holds no examples (empty dataset)");
  return examples;
}

IndexTensor pad_sequences(const std::vector<std::vector<int64_t>>& sequences, int64_t pad_id,
                          std::optional<int64_t> max_len, std::optional<int64_t> fixed_len) {
  EMBER_CHECK_VALUE(!max_len || *max_len > 0, "pad_sequences: max_len must be positive, got ",
                    max_len.value_or(0));
  EMBER_CHECK_VALUE(!fixed_len || *fixed_len > 0, "pad_sequences: fixed_len must be positive, got ",
                    fixed_len.value_or(0));
  int64_t width = 1;
  for (const auto& s : sequences) width = std::max<int64_t>(width, static_cast<int64_t>(s.size()));
  if (fixed_len) width = *fixed_len;
  if (max_len) width = std::min(width, *max_len);
  const int64_t n = static_cast<int64_t>(sequences.size());
  std::vector<int64_t> ids(static_cast<size_t>(n * width), pad_id);
  for (int64_t i = 0; i < n; ++i) {
    const auto& s = sequences[static_cast<size_t>(i)];
    int64_t len = std::min<int64_t>(width, static_cast<int64_t>(s.size()));
    std::copy_n(s.begin(), len, ids.begin() + i * width);
  }
  return IndexTensor(std::move(ids), {n, width});
}

std::vector<size_t> shuffled_indices(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  // Fisher–Yates with our own draws: std::shuffle's algorithm is not fixed by the standard.
  std::mt19937_64 gen(seed);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[gen() % i]);
  return order;
}

std::pair<std::vector<Example>, std::vector<Example>> train_valid_split(
    const std::vector<Example>& examples, double valid_fraction, uint64_t seed) {
  EMBER_CHECK_VALUE(valid_fraction >= 0 && valid_fraction < 1,
                    "train_valid_split: valid_fraction must be in [0, 1), got ", valid_fraction);
  std::vector<size_t> order = shuffled_indices(examples.size(), seed);
  size_t n_valid =
      static_cast<size_t>(std::llround(valid_fraction * static_cast<double>(examples.size())));
  std::pair<std::vector<Example>, std::vector<Example>> out;
  for (size_t k = 0; k < order.size(); ++k)
    (k < n_valid ? out.second : out.first).push_back(examples[order[k]]);
  return out;
}

}  // namespace ember::text
