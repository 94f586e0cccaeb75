#!/bin/sh
# Ember's GPT-2 bench and its PyTorch twin in the same run, with the CPU named.
#   bench/gpt2_compare.sh [build-dir] [args for both: layers dim heads vocab batch seq steps gen threads]
set -e
BUILD=${1:-build}
[ $# -gt 0 ] && shift
lscpu | grep 'Model name'
"$BUILD/bench/ember_gpt2_bench" "$@"
/usr/bin/python3 "$(dirname "$0")/gpt2_bench_torch.py" "$@"
