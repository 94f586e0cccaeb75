#!/usr/bin/env bash
# Data-parallel benchmark at 1 and 2 ranks, one thread each: throughput, exchange volume and
# collective timings (docs/distributed.md quotes its output). Usage: bench/dist_bench.sh [steps]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
cmake -S . -B build -DEMBER_BUILD_BENCH=ON >/dev/null
cmake --build build -j2 --target ember_dist_bench >/dev/null
date -u
uptime
for np in 1 2; do
  mpirun --oversubscribe --bind-to core -np "$np" build/bench/ember_dist_bench --threads=1 \
    --steps="${1:-100}"
done
