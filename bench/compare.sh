#!/usr/bin/env bash
# Builds Ember's benchmarks and their LibTorch twins, runs them interleaved several times at 1
# and 2 threads, and prints a markdown table of medians and ratios (LibTorch time / Ember
# time; above 1 means Ember is faster) plus the peak RSS of classifier training on each side.
# Each run also measures the machine's limits (bench/limits.cpp: best sgemm among the engines,
# triad bandwidth) and the table gives Ember's fraction of them, with the CPU model, the GEMM
# engine Ember picked, the OpenBLAS core and the thread counts.
# Needs: apt-get install libtorch-dev libbenchmark-dev.   Usage: bench/compare.sh [runs=5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-5}
EMBER_EXTRA_PACKAGES="libtorch-dev libbenchmark-dev ${EMBER_EXTRA_PACKAGES:-}" scripts/install_deps.sh
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_EXAMPLES=OFF \
  -DEMBER_BUILD_BENCH=ON -DEMBER_BENCH_LIBTORCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ember_bench ember_limits libtorch_bench >/dev/null
out=$(mktemp -d)
for threads in 1 2; do
  for run in $(seq 1 "$runs"); do
    # Interleaved: each run measures both sides back to back under the same machine load.
    "$build/bench/ember_bench" --threads="$threads" --benchmark_format=csv \
      --benchmark_min_time=0.2 >"$out/ember_${threads}_${run}.csv" 2>"$out/ember_${threads}.log"
    "$build/bench/libtorch_bench" --threads="$threads" --benchmark_format=csv \
      --benchmark_min_time=0.2 >"$out/libtorch_${threads}_${run}.csv" 2>"$out/libtorch_${threads}.log"
    "$build/bench/ember_limits" --threads="$threads" >"$out/limits_${threads}_${run}.txt"
  done
done
ember_rss=$("$build/bench/ember_bench" --rss-steps=300 | awk '{print $2}')
torch_rss=$("$build/bench/libtorch_bench" --rss-steps=300 | awk '{print $2}')
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores;" \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; $(date -u '+%Y-%m-%d %H:%M UTC')"
head -1 "$out/ember_1.log"
head -1 "$out/libtorch_1.log"
for threads in 1 2; do
  echo "threads $threads: Ember's GEMM engine: $(sed -n 's/^gemm_engine //p' "$out/limits_${threads}_1.txt")"
  "$build/bench/ember_limits" --threads="$threads" --engines | grep '^gemm_gflops' | sed 's/^gemm_gflops/  sgemm GFLOPS (NT, best of runs)/'
done
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
         ("log_softmax_cross_entropy", "log_softmax_cross_entropy"),
         ("layer_norm_fwd_bwd", "layer_norm_fwd_bwd")]
def limits(threads):
    best = {}
    for r in range(1, runs + 1):
        with open(f"{out}/limits_{threads}_{r}.txt") as f:
            for line in f:
                key, _, value = line.strip().partition(" ")
                try:
                    v = float(value)
                except ValueError:
                    continue
                # The machine's capability: the fastest time and the highest bandwidth seen.
                best[key] = min(best.get(key, v), v) if key.endswith("_us") or "_us_" in key \
                    else max(best.get(key, v), v)
    return best
# Bytes each memory-bound workload must move at least (float32):
#  dense Adam step: the V×D table's gradient written once, then Adam reads param, grad, m, v and
#    writes param, m, v: 8 passes over V×D (the small layers and the batch are negligible);
#  embedding fwd+bwd: forward reads 65,536 rows and writes them; backward writes the 100k×128
#    gradient once and reads the 65,536-row output gradient.
V, D, rows, dim, ids = 20000, 64, 100000, 128, 65536
traffic = {"classifier_step_dense": (8 * V * D * 4, "triad_gbs_classifier"),
           "embedding_fwd_bwd": ((3 * ids * dim + rows * dim) * 4, "triad_gbs_embedding")}
for threads in (1, 2):
    lim = limits(threads)
    print(f"\nthreads {threads}: best sgemm {lim['sgemm_gflops_best']:.0f} GFLOPS on Linear's three "
          f"GEMMs (µs: OpenBLAS {lim.get('linear_gemms_us_openblas', 0):.0f}, oneDNN "
          f"{lim.get('linear_gemms_us_onednn', 0):.0f}, Ember's engine "
          f"{lim.get('linear_gemms_us_ember', 0):.0f}); triad GB/s: classifier-table footprint "
          f"{lim['triad_gbs_classifier']:.1f}, embedding footprint {lim['triad_gbs_embedding']:.1f}, "
          f"DRAM (3×256 MiB) {lim['triad_gbs_dram']:.1f}")
print(f"\nmedians of {runs} interleaved runs, microseconds; ratio = LibTorch / Ember; limit = the "
      "machine's best time for the work (best sgemm for GEMM-bound, bytes / triad bandwidth for "
      "memory-bound; best of the runs), fraction = limit / Ember\n")
print("| workload | threads | Ember µs | LibTorch µs | ratio | limit µs | fraction of limit |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for threads in (1, 2):
    e, t, lim = times("ember", threads), times("libtorch", threads), limits(threads)
    for ours, theirs in pairs:
        if ours in e and theirs in t:
            label = ours if ours == theirs else f"{ours} (vs LibTorch {theirs})"
            limit = None
            if ours == "linear_fwd_bwd":
                limit = lim["linear_gemms_us_best"]
            elif ours in traffic:
                nbytes, key = traffic[ours]
                limit = nbytes / (lim[key] * 1e3)
            extra = f"{limit:.1f} | {limit / e[ours]:.2f}" if limit else "— | —"
            print(f"| {label} | {threads} | {e[ours]:.2f} | {t[theirs]:.2f} | "
                  f"{t[theirs] / e[ours]:.2f} | {extra} |")
print(f"\npeak RSS of 300 classifier training steps: Ember {ember_rss / 1024:.1f} MiB, "
      f"LibTorch {torch_rss / 1024:.1f} MiB (ratio {ember_rss / torch_rss:.2f})")
PY
rm -rf "$out"
