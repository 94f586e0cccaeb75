// Umbrella header: everything a user of Ember needs.
#pragma once

#include "ember/autograd.hpp"
#include "ember/error.hpp"
#include "ember/gradcheck.hpp"
#include "ember/index_tensor.hpp"
#include "ember/io/safetensors.hpp"
#include "ember/nn/embedding.hpp"
#include "ember/nn/functional.hpp"
#include "ember/nn/init.hpp"
#include "ember/nn/layers.hpp"
#include "ember/nn/linear.hpp"
#include "ember/nn/module.hpp"
#include "ember/ops.hpp"
#include "ember/parallel.hpp"
#include "ember/tensor.hpp"
