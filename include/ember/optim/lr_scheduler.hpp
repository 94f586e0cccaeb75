// Learning-rate schedulers, as torch.optim.lr_scheduler (the same recursive forms, so the lr
// sequences match PyTorch's step for step). Call step() once per epoch, after optimizer.step().
#pragma once

#include <vector>

#include "ember/optim/optimizer.hpp"

namespace ember::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  void step();
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // Called after the constructor of the concrete scheduler: the step to epoch 0.
  void initial_step() { step(); }
  // The lrs for last_epoch_, given the groups' current lrs.
  virtual std::vector<double> get_lr() = 0;
  std::vector<double> current_lrs() const;

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  std::vector<double> last_lr_;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 private:
  std::vector<double> get_lr() override;
  int64_t step_size_;
  double gamma_;
};

class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 private:
  std::vector<double> get_lr() override;
  std::vector<int64_t> milestones_;  // repeats allowed: gamma applies once per repeat
  double gamma_;
};

class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 private:
  std::vector<double> get_lr() override;
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 private:
  std::vector<double> get_lr() override;
  int64_t T_max_;
  double eta_min_;
};

// Warm-up: multiplies lr by a factor going linearly from start_factor to end_factor.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);

 private:
  std::vector<double> get_lr() override;
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

// Cuts lr by `factor` when a metric stops improving for `patience` epochs.
class ReduceLROnPlateau {
 public:
  enum class Mode { Min, Max };
  enum class ThresholdMode { Rel, Abs };
  explicit ReduceLROnPlateau(Optimizer& optimizer, Mode mode = Mode::Min, double factor = 0.1,
                             int64_t patience = 10, double threshold = 1e-4,
                             ThresholdMode threshold_mode = ThresholdMode::Rel,
                             int64_t cooldown = 0, double min_lr = 0.0, double eps = 1e-8);
  void step(double metric);
  std::vector<double> get_last_lr() const;

 private:
  bool is_better(double a) const;
  Optimizer& optimizer_;
  Mode mode_;
  double factor_, threshold_, min_lr_, eps_;
  ThresholdMode threshold_mode_;
  int64_t patience_, cooldown_, cooldown_counter_ = 0, num_bad_epochs_ = 0, last_epoch_ = 0;
  double best_;
};

}  // namespace ember::optim
