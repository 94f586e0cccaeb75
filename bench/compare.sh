#!/usr/bin/env bash
# Builds Ember's benchmarks and their LibTorch twins, runs them interleaved several times at 1
# and 2 threads, and prints a markdown table of medians and ratios (LibTorch time / Ember
# time; above 1 means Ember is faster) plus the peak RSS of classifier training on each side.
# Needs: apt-get install libtorch-dev libbenchmark-dev.   Usage: bench/compare.sh [runs=5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-5}
EMBER_EXTRA_PACKAGES="libtorch-dev libbenchmark-dev ${EMBER_EXTRA_PACKAGES:-}" scripts/install_deps.sh
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_EXAMPLES=OFF \
  -DEMBER_BUILD_BENCH=ON -DEMBER_BENCH_LIBTORCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ember_bench libtorch_bench >/dev/null
out=$(mktemp -d)
for threads in 1 2; do
  for run in $(seq 1 "$runs"); do
    # Interleaved: each run measures both sides back to back under the same machine load.
    "$build/bench/ember_bench" --threads="$threads" --benchmark_format=csv \
      --benchmark_min_time=0.2 >"$out/ember_${threads}_${run}.csv" 2>"$out/ember_${threads}.log"
    "$build/bench/libtorch_bench" --threads="$threads" --benchmark_format=csv \
      --benchmark_min_time=0.2 >"$out/libtorch_${threads}_${run}.csv" 2>"$out/libtorch_${threads}.log"
  done
done
ember_rss=$("$build/bench/ember_bench" --rss-steps=300 | awk '{print $2}')
torch_rss=$("$build/bench/libtorch_bench" --rss-steps=300 | awk '{print $2}')
head -1 "$out/ember_1.log"
head -1 "$out/libtorch_1.log"
/usr/bin/python3 - "$out" "$runs" "$ember_rss" "$torch_rss" <<'PY'
import csv, statistics, sys
out, runs, ember_rss, torch_rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def times(side, threads):
    t = {}
    for r in range(1, runs + 1):
        with open(f"{out}/{side}_{threads}_{r}.csv") as f:
            lines = [l for l in f if not l.startswith("#")]
        start = next(i for i, l in enumerate(lines) if l.startswith("name,"))
        for row in csv.DictReader(lines[start:]):
            unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[row["time_unit"]]
            t.setdefault(row["name"], []).append(float(row["real_time"]) * unit)
    return {k: statistics.median(v) for k, v in t.items()}
pairs = [("per_op_overhead", "per_op_overhead"), ("classifier_step_dense", "classifier_step_dense"),
         ("classifier_step_sparse", "classifier_step_dense"), ("linear_fwd_bwd", "linear_fwd_bwd"),
         ("embedding_fwd_bwd", "embedding_fwd_bwd"),
         ("embedding_bag_mean", "embedding_bag_mean"),
         ("log_softmax_cross_entropy", "log_softmax_cross_entropy")]
print(f"\nmedians of {runs} interleaved runs, microseconds; ratio = LibTorch / Ember\n")
print("| workload | threads | Ember µs | LibTorch µs | ratio |")
print("| --- | --- | --- | --- | --- |")
for threads in (1, 2):
    e, t = times("ember", threads), times("libtorch", threads)
    for ours, theirs in pairs:
        if ours in e and theirs in t:
            label = ours if ours == theirs else f"{ours} (vs LibTorch {theirs})"
            print(f"| {label} | {threads} | {e[ours]:.2f} | {t[theirs]:.2f} | {t[theirs] / e[ours]:.2f} |")
for threads in (1, 2):
    e = times("ember", threads)
    print(f"\nthreads {threads}: Ember's Linear fwd+bwd runs at "
          f"{e['linear_sgemm_only'] / e['linear_fwd_bwd']:.3f} of its raw sgemm calls")
print(f"\npeak RSS of 300 classifier training steps: Ember {ember_rss / 1024:.1f} MiB, "
      f"LibTorch {torch_rss / 1024:.1f} MiB (ratio {ember_rss / torch_rss:.2f})")
PY
rm -rf "$out"
