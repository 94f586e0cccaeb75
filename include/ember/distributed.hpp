// Data-parallel training on MPI: Environment, collectives, DataParallel, DistributedSampler,
// checkpoints. See docs/distributed.md.
#pragma once

#include "ember/distributed/checkpoint.hpp"
#include "ember/distributed/data_parallel.hpp"
#include "ember/distributed/environment.hpp"
#include "ember/distributed/sampler.hpp"
