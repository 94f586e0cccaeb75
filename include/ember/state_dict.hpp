// StateDict: tensors by dotted name ("fc1.weight"), what Module::state_dict gives and io::save
// writes. It lives in the core so io and optim need no nn header.
#pragma once

#include <map>
#include <string>

#include "ember/tensor.hpp"

namespace ember {
using StateDict = std::map<std::string, Tensor>;
}
