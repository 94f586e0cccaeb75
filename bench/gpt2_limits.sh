#!/bin/sh
# Ember's GPT-2 124M-shaped training step (B=4, T=64, AdamW) as a fraction of this machine's
# limit, measured in the same run: the step's GEMM FLOPs at the best sgemm rate plus AdamW's
# passes over the parameters at the triad bandwidth (bench/limits.cpp), at 1 and 2 threads,
# and the activation memory with and without per-block checkpointing.
#   bench/gpt2_limits.sh [build-dir] [steps]     (needs -DEMBER_BUILD_BENCH=ON)
set -e
BUILD=${1:-build}
STEPS=${2:-3}
lscpu | grep 'Model name'
uptime
for threads in 1 2; do
  limits=$("$BUILD/bench/ember_limits" --threads="$threads")
  gflops=$(echo "$limits" | awk '/^sgemm_gflops_best/ {print $2}')
  triad=$(echo "$limits" | awk '/^triad_gbs_dram/ {print $2}')
  for ckpt in 0 1; do
    if [ "$ckpt" = 1 ]; then out=$(EMBER_CHECKPOINTING=1 "$BUILD/bench/ember_gpt2_bench" 12 768 12 50257 4 64 "$STEPS" 1 "$threads")
    else out=$("$BUILD/bench/ember_gpt2_bench" 12 768 12 50257 4 64 "$STEPS" 1 "$threads"); fi
    echo "$out" | awk -v gflops="$gflops" -v triad="$triad" -v threads="$threads" -v ckpt="$ckpt" '
      /train_step_s/ {step = $3}
      /peak_rss_mb/ {peak = $3}
      / activation_mb/ {act = $3}
      /saved_activation_mb/ {saved = $3}
      /gemm_gflop/ {flop = $3; bytes = $5}
      END {
        floor = flop / gflops + bytes / (triad * 1e9)
        printf "threads %d checkpointing %d: step %.3f s, limit %.3f s (%.1f GFLOP at %.1f GFLOPS + %.2f GB at %.1f GB/s), fraction %.2f; peak RSS %d MB, activations %d MB (RSS), graph %.1f MiB\n",
          threads, ckpt, step, floor, flop, gflops, bytes / 1e9, triad, floor / step, peak, act, saved
      }'
  done
done
