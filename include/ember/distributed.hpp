// Data-parallel training on MPI: Environment, collectives, DataParallel, ShardedOptimizer,
// DistributedSampler, checkpoints. See docs/distributed.md.
#pragma once

#include "ember/distributed/checkpoint.hpp"
#include "ember/distributed/data_parallel.hpp"
#include "ember/distributed/environment.hpp"
#include "ember/distributed/sampler.hpp"
#include "ember/distributed/sharded_optimizer.hpp"
