#!/usr/bin/env bash
# Data-parallel benchmark on 2 simulated hosts (scripts/netns_hosts.sh: network namespaces, Open
# MPI over TCP only, egress limited with tc tbf) at 10 Gbit/s and 1 Gbit/s, one compute thread
# per rank; ZeRO-1 state at 2 and 4 ranks. docs/distributed.md quotes its output.
# Usage: bench/dist_bench.sh [steps]   (root: network namespaces)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${1:-100}"
cmake -S . -B build -DEMBER_BUILD_BENCH=ON >/dev/null
cmake --build build -j2 --target ember_dist_bench >/dev/null
bench=build/bench/ember_dist_bench
hosts=scripts/netns_hosts.sh
date -u
lscpu | grep 'Model name'
uptime
for rate in 10gbit 1gbit; do
  echo "== 2 hosts, $rate"
  # The baseline: the same two processes on the same cores, each training alone.
  "$hosts" -n 2 -r "$rate" -- "$bench" --threads=1 --steps="$steps" --solo 2>/dev/null
  "$hosts" -n 2 -r "$rate" -- "$bench" --threads=1 --steps="$steps" --overlap=0 2>/dev/null
  for model in classifier classifier-dense mlp; do
    "$hosts" -n 2 -r "$rate" -- "$bench" --threads=1 --steps="$steps" --overlap=1 \
      --only="$model" 2>/dev/null
  done
  "$hosts" -n 2 -r "$rate" -- "$bench" --threads=1 --steps="$steps" --overlap=1 \
    --bucket-kb=2048 --only=mlp 2>/dev/null
done
for n in 2 4; do
  echo "== ZeRO-1, $n hosts"
  "$hosts" -n "$n" -r 10gbit -- "$bench" --threads=1 --steps=10 --zero --only=mlp 2>/dev/null
  "$hosts" -n "$n" -r 10gbit -- "$bench" --threads=1 --steps=10 --zero --only=classifier \
    2>/dev/null
done
