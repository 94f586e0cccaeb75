#!/usr/bin/env bash
# Issue #20's view targets, side by side with LibTorch: each op on a fresh narrowed + transposed
# 1024x1024 view against the same op on a contiguous input (bench/view_ops_bench.cpp and its twin
# bench/libtorch/view_ops_bench.cpp), and the per-op overhead of (a*b+a).sum() fwd+bwd on 4x4 with
# its heap allocations (per_op_overhead of bench/ember_bench.cpp and bench/libtorch/
# libtorch_bench.cpp). Runs both sides interleaved `runs` times at 1 thread and prints medians.
# bench/limits.cpp gives the floors: triad bandwidth at the ops' footprint, best sgemm.
# Needs: apt-get install libtorch-dev libbenchmark-dev.   Usage: bench/view_ops_compare.sh [runs=5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-5}
EMBER_EXTRA_PACKAGES="libtorch-dev libbenchmark-dev ${EMBER_EXTRA_PACKAGES:-}" scripts/install_deps.sh
build=build-viewbench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_EXAMPLES=OFF \
  -DEMBER_BUILD_BENCH=ON -DEMBER_BENCH_LIBTORCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ember_view_ops_bench libtorch_view_ops_bench \
  ember_bench libtorch_bench ember_limits >/dev/null
out=$(mktemp -d)
load_before=$(uptime | sed 's/.*load average: //')
side() {  # side <ember|libtorch> <run>: the view ops, then the per-op overhead
  local prefix=$1 program=${1}_view_ops_bench overhead=${1}_bench
  "$build/bench/$program" --threads=1 --benchmark_format=json --benchmark_min_time=0.2 \
    >"$out/${prefix}_ops_$2.json" 2>"$out/${prefix}.log"
  "$build/bench/$overhead" --threads=1 --benchmark_format=json --benchmark_min_time=0.2 \
    --benchmark_filter='^per_op_overhead$' >"$out/${prefix}_overhead_$2.json" 2>/dev/null
}
for run in $(seq 1 "$runs"); do
  # Interleaved, alternating which side goes first: both see the same machine load.
  if [ $((run % 2)) -eq 1 ]; then side ember "$run"; side libtorch "$run"
  else side libtorch "$run"; side ember "$run"; fi
done
"$build/bench/ember_limits" --threads=1 >"$out/limits.txt"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores;" \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; $(date -u '+%Y-%m-%d %H:%M UTC');" \
  "Ember at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load average before: $load_before; after: $(uptime | sed 's/.*load average: //')"
head -1 "$out/ember.log"
head -1 "$out/libtorch.log"
echo "Ember's GEMM engine: $(sed -n 's/^gemm_engine //p' "$out/limits.txt")"
/usr/bin/python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def load(kind, side):
    t = {}
    for r in range(1, runs + 1):
        with open(f"{out}/{side}_{kind}_{r}.json") as f:
            for b in json.load(f)["benchmarks"]:
                unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
                t.setdefault(b["name"], []).append(dict(b, us=b["real_time"] * unit))
    return t
def median(rows, key):
    return statistics.median(r[key] for r in rows)
lim = {}
with open(f"{out}/limits.txt") as f:
    for line in f:
        key, _, value = line.strip().partition(" ")
        try:
            lim[key] = float(value)
        except ValueError:
            pass
# The ops' footprint (a 4 MiB input, a 4 MiB result, 4 MiB more for add) is nearest the
# classifier's triad footprint of bench/limits.cpp (3 arrays of 5 MiB).
gbs, gflops = lim["triad_gbs_classifier"], lim["sgemm_gflops_best"]
print(f"1 thread; floors from bench/limits.cpp: triad {gbs:.1f} GB/s at a 15 MiB footprint "
      f"({lim['triad_gbs_dram']:.1f} GB/s at 768 MiB), best sgemm {gflops:.0f} GFLOPS")
print(f"\nmedians of {runs} interleaved runs, microseconds. view = x[1024, 1025].narrow(1, 1, "
      "1024).t() made inside the timed loop; contiguous = a [1024, 1024] input. floor = least "
      "bytes / triad bandwidth, or FLOPs / best sgemm. target: view/contiguous <= 2 (<= 3 for add, "
      "whose operands' layouts differ) and Ember view <= LibTorch view\n")
e, t = load("ops", "ember"), load("ops", "libtorch")
print("| op | Ember contiguous | Ember view | ratio | LibTorch contiguous | LibTorch view | "
      "LibTorch ratio | Ember view / LibTorch view | floor | target holds |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
ops = [n.split("/")[0] for n in e if n.endswith("/contiguous")]
for op in ops:
    ec, ev = median(e[f"{op}/contiguous"], "us"), median(e[f"{op}/view"], "us")
    tc, tv = median(t[f"{op}/contiguous"], "us"), median(t[f"{op}/view"], "us")
    row = e[f"{op}/contiguous"][0]
    cpu_s = row["cpu_time"] * row["us"] / row["real_time"] * 1e-6  # rates are per CPU second
    if "items_per_second" in row:  # FLOPs per iteration, reported as items
        floor = row["items_per_second"] * cpu_s / (gflops * 1e3)
    else:
        floor = row["bytes_per_second"] * cpu_s / (gbs * 1e3)
    bound = 3 if op == "add" else 2
    holds = "yes" if ev / ec <= bound and ev <= tv else "no"
    print(f"| {op} | {ec:.1f} | {ev:.1f} | {ev / ec:.2f} | {tc:.1f} | {tv:.1f} | {tv / tc:.2f} | "
          f"{ev / tv:.2f} | {floor:.1f} | {holds} (<= {bound}x) |")
eo, to = load("overhead", "ember")["per_op_overhead"], load("overhead", "libtorch")["per_op_overhead"]
eu, tu = median(eo, "us"), median(to, "us")
def allocs(rows):
    return (f"{median(rows, 'allocs_per_iter'):.0f} heap allocations per step, "
            f"{median(rows, 'allocs_per_op'):.2f} per recorded op "
            f"({median(rows, 'allocs_fwd_per_op'):.2f} in forward)")
print(f"\nper-op overhead, (a*b+a).sum() fwd+bwd on 4x4 (3 recorded ops), medians of {runs} runs:")
print(f"  Ember    {eu:.2f} µs per step ({eu / 3:.2f} per op), {allocs(eo)}")
print(f"  LibTorch {tu:.2f} µs per step ({tu / 3:.2f} per op), {allocs(to)}")
print(f"  LibTorch / Ember = {tu / eu:.1f}x (target >= 25x); Ember step <= 0.7 µs: "
      f"{'yes' if eu <= 0.7 else 'no'}; <= 2 allocations per recorded op: "
      f"{'yes' if median(eo, 'allocs_per_op') <= 2 else 'no'}")
PY
rm -rf "$out"
