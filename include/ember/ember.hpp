// Umbrella header: everything a user of Ember needs.
#pragma once

#include "ember/autograd.hpp"
#include "ember/error.hpp"
#include "ember/gradcheck.hpp"
#include "ember/index_tensor.hpp"
#include "ember/nn/functional.hpp"
#include "ember/ops.hpp"
#include "ember/tensor.hpp"
