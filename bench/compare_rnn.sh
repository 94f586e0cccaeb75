#!/usr/bin/env bash
# The LSTM training step (bench/rnn_bench.cpp) against its LibTorch twin: interleaved runs at 1
# and 2 threads, medians of wall time and of process CPU time (all threads), and their ratios
# (LibTorch / Ember; above 1 means Ember is faster).   Usage: bench/compare_rnn.sh [runs=5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-5}
build=${EMBER_BENCH_BUILD:-build-bench}
EMBER_EXTRA_PACKAGES="libtorch-dev libbenchmark-dev ${EMBER_EXTRA_PACKAGES:-}" scripts/install_deps.sh
launcher=$(command -v ccache || true)
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_EXAMPLES=OFF \
  -DEMBER_BUILD_BENCH=ON -DEMBER_BENCH_LIBTORCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ember_rnn_bench libtorch_rnn_bench >/dev/null
out=$(mktemp -d)
for threads in 1 2; do
  for run in $(seq 1 "$runs"); do
    for side in ember libtorch; do
      "$build/bench/${side}_rnn_bench" --threads="$threads" --benchmark_format=csv \
        --benchmark_min_time=1 >"$out/${side}_${threads}_${run}.csv" 2>"$out/${side}.log"
    done
  done
done
grep -h "" "$out/ember.log" "$out/libtorch.log" | head -2
lscpu | grep "Model name" || true
/usr/bin/python3 - "$out" "$runs" <<'PY'
import csv, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def medians(side, threads):
    wall, cpu = [], []
    for r in range(1, runs + 1):
        with open(f"{out}/{side}_{threads}_{r}.csv") as f:
            lines = [l for l in f if not l.startswith("#")]
        start = next(i for i, l in enumerate(lines) if l.startswith("name,"))
        for row in csv.DictReader(lines[start:]):
            wall.append(float(row["real_time"]))
            cpu.append(float(row["cpu_time"]))
    return statistics.median(wall), statistics.median(cpu)
print(f"\nmedians of {runs} interleaved runs, ms per step; ratio = LibTorch / Ember\n")
print("| threads | Ember wall | LibTorch wall | ratio | Ember CPU | LibTorch CPU | ratio |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for threads in (1, 2):
    (ew, ec), (tw, tc) = medians("ember", threads), medians("libtorch", threads)
    print(f"| {threads} | {ew:.0f} | {tw:.0f} | {tw / ew:.2f} | {ec:.0f} | {tc:.0f} | {tc / ec:.2f} |")
PY
rm -rf "$out"
