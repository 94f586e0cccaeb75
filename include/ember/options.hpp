// EMBER_ARG declares one chained option, as LibTorch's TORCH_ARG:
//   EMBER_ARG(double, lr) = 1e-3;   gives  opts.lr(0.1).lr()  and a member lr_.
#pragma once

// A comma inside an EMBER_ARG type.
#define EMBER_COMMA ,

#define EMBER_ARG(T, name)                  \
 public:                                    \
  auto& name(const T& value) {              \
    this->name##_ = value;                  \
    return *this;                           \
  }                                         \
  const T& name() const { return name##_; } \
                                            \
 private:                                   \
  T name##_
