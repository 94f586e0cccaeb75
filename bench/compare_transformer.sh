#!/usr/bin/env bash
# The Transformer encoder step (B=32, T=128, d=256, 4 heads, 2 layers, fwd+bwd+Adam), Ember
# against LibTorch, interleaved runs at 1 and 2 threads; prints medians of wall and CPU time.
# Usage: bench/compare_transformer.sh [runs=5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-5}
EMBER_EXTRA_PACKAGES="libtorch-dev libbenchmark-dev ${EMBER_EXTRA_PACKAGES:-}" scripts/install_deps.sh
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_EXAMPLES=OFF \
  -DEMBER_BUILD_BENCH=ON -DEMBER_BENCH_LIBTORCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target transformer_bench libtorch_transformer_bench >/dev/null
out=$(mktemp -d)
grep -m1 "model name" /proc/cpuinfo
for threads in 1 2; do
  for run in $(seq 1 "$runs"); do
    for side in transformer_bench libtorch_transformer_bench; do
      "$build/bench/$side" --threads="$threads" --benchmark_format=csv --benchmark_min_time=0.5 \
        >"$out/${side}_${threads}_${run}.csv" 2>"$out/${side}_${threads}.log"
    done
  done
  head -1 "$out/transformer_bench_${threads}.log"
  head -1 "$out/libtorch_transformer_bench_${threads}.log"
done
/usr/bin/python3 - "$out" "$runs" <<'PY'
import csv, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def times(side, threads, column):
    t = []
    for r in range(1, runs + 1):
        with open(f"{out}/{side}_{threads}_{r}.csv") as f:
            lines = [l for l in f if not l.startswith("#")]
        start = next(i for i, l in enumerate(lines) if l.startswith("name,"))
        for row in csv.DictReader(lines[start:]):
            unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0}[row["time_unit"]]
            t.append(float(row[column]) * unit)
    return statistics.median(t)
print(f"\nmedians of {runs} interleaved runs, milliseconds per step; ratio = LibTorch / Ember")
print("(cpu = CPU time of the whole process, all threads: steadier than wall time on a loaded machine)\n")
print("| threads | Ember wall | LibTorch wall | ratio | Ember cpu | LibTorch cpu | ratio |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for threads in (1, 2):
    ew, tw = times("transformer_bench", threads, "real_time"), times("libtorch_transformer_bench", threads, "real_time")
    ec, tc = times("transformer_bench", threads, "cpu_time"), times("libtorch_transformer_bench", threads, "cpu_time")
    print(f"| {threads} | {ew:.0f} | {tw:.0f} | {tw / ew:.2f} | {ec:.0f} | {tc:.0f} | {tc / ec:.2f} |")
PY
