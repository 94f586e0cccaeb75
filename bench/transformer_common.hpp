// The Transformer encoder step's sizes, shared by Ember's side and its LibTorch twin.
#pragma once

#include <cstdint>

namespace bench::transformer {
constexpr int64_t kBatch = 32, kLength = 128, kDim = 256, kHeads = 4, kLayers = 2,
                  kFeedForward = 1024;
}  // namespace bench::transformer
