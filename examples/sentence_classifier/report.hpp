// What ember-classify shows and writes: the progress bar, history.csv, curves.svg and the
// evaluation report.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "classifier.hpp"

namespace classifier {

// A progress bar redrawn in place on a terminal; plain lines, one per epoch, otherwise.
class Progress {
 public:
  Progress(std::ostream& out, bool terminal, int64_t epochs);
  void batch(int64_t epoch, int64_t batch, int64_t batches, double loss, double accuracy,
             double sentences_per_second);
  void epoch(const EpochStats& stats);

 private:
  std::ostream& out_;
  bool terminal_;
  int64_t epochs_;
};

void write_history_csv(const std::vector<EpochStats>& history, const std::string& path);
// Two panels, loss and accuracy per epoch, train and (when present) valid lines.
void write_curves_svg(const std::vector<EpochStats>& history, const std::string& path);
void print_evaluation(std::ostream& out, const Evaluation& e, const text::LabelSet& labels);

}  // namespace classifier
