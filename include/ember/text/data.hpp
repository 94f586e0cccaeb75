// Datasets for sentence classification: a TSV reader (label<TAB>text), labels as class ids,
// padding into batches, seeded shuffles and a train/valid split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ember/index_tensor.hpp"

namespace ember::text {

struct Example {
  std::string text;
  int64_t label;
};

// Label strings <-> class ids, in order of first appearance; saved beside a model.
class LabelSet {
 public:
  LabelSet() = default;
  explicit LabelSet(std::vector<std::string> names);
  // The id of `name`, adding it when `grow` (a training set) and throwing when not.
  int64_t id(const std::string& name, bool grow);
  const std::string& name(int64_t id) const;
  int64_t size() const { return static_cast<int64_t>(names_.size()); }
  // A temporary's names are moved out, not referenced: `for (auto& n : LabelSet::load(p).names())`
  // would otherwise read freed memory.
  const std::vector<std::string>& names() const& { return names_; }
  std::vector<std::string> names() && { return std::move(names_); }
  void save(const std::string& path) const;
  static LabelSet load(const std::string& path);

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, int64_t> ids_;
};

// Reads `label<TAB>text` lines (blank lines skipped). New labels are added to `labels` when
// `grow_labels`; otherwise an unseen label throws. Errors name the file and line: a missing
// file, a line without a tab, invalid UTF-8, an unknown label, no examples at all.
std::vector<Example> read_tsv(const std::string& path, LabelSet& labels, bool grow_labels = true);

// Pads id sequences with pad_id to the longest (or to fixed_len), truncating past max_len:
// an IndexTensor [N, L]. Empty sequences become one pad token, so every row has length >= 1.
// pad_id has no default, on purpose: PyTorch's pad_sequence pads with 0, but in a Vocab built
// with the default specials 0 is "<unk>" and "<pad>" is 1. Pass vocab["<pad>"] (or 0 to pad as
// PyTorch does); the padding mask is then `ids != pad_id`.
IndexTensor pad_sequences(const std::vector<std::vector<int64_t>>& sequences, int64_t pad_id,
                          std::optional<int64_t> max_len = std::nullopt,
                          std::optional<int64_t> fixed_len = std::nullopt);

// A permutation of 0..n-1 drawn from `seed` (same seed, same order, on every machine).
std::vector<size_t> shuffled_indices(size_t n, uint64_t seed);

// Splits examples into (train, valid) after a seeded shuffle; valid gets round(n * fraction).
std::pair<std::vector<Example>, std::vector<Example>> train_valid_split(
    const std::vector<Example>& examples, double valid_fraction, uint64_t seed);

}  // namespace ember::text
