#!/bin/sh
# GPT-2 124M-shaped training step (B=4, T=64, AdamW) in float32 and under bfloat16 autocast
# (EMBER_AUTOCAST=1), interleaved, at 1 and 2 threads; the GEMM rates of this machine in the
# same run (ember_limits: float32 sgemm and bfloat16 gemm_bf16 on Linear's products, and with
# --gpt2 the time of this step's own products on either path, the floor of its time); and the
# PyTorch 1.13 twin in float32 and under torch.autocast("cpu", bfloat16) at 2 threads. Each round
# also runs autocast's float32 path (EMBER_BF16_GEMM=float32: float32 products, bfloat16 saved
# activations), the default on CPUs whose bfloat16 GEMM is not faster, emulated here.
#   bench/gpt2_autocast.sh [build-dir] [steps] [rounds]     (needs -DEMBER_BUILD_BENCH=ON)
set -e
BUILD=${1:-build}
STEPS=${2:-5}
ROUNDS=${3:-2}
lscpu | grep 'Model name'
uptime
for t in 1 2; do
  "$BUILD/bench/ember_limits" --gpt2 --threads=$t |
    grep -E "^threads|sgemm_gflops_best|bf16_gemm|gpt2_step_gemms"
done
round=1
while [ "$round" -le "$ROUNDS" ]; do
  for t in 1 2; do
    for ac in 0 1 float32_path; do
      unset EMBER_AUTOCAST EMBER_BF16_GEMM
      [ "$ac" = 0 ] || export EMBER_AUTOCAST=1
      [ "$ac" != float32_path ] || { export EMBER_BF16_GEMM=float32; echo "float32 path:"; }
      "$BUILD/bench/ember_gpt2_bench" 12 768 12 50257 4 64 "$STEPS" 0 "$t" |
        grep -E "train_step|phases|activation_mb"
      # phases: forward, backward, AdamW; activation_mb (RSS), saved_activation_mb (graph bytes)
    done
  done
  round=$((round + 1))
done
for ac in 0 1; do
  if [ "$ac" = 1 ]; then export EMBER_AUTOCAST=1; else unset EMBER_AUTOCAST; fi
  /usr/bin/python3 "$(dirname "$0")/gpt2_bench_torch.py" 12 768 12 50257 4 64 3 0 2 |
    grep -E "train_step|peak_rss"
done
uptime
