#!/usr/bin/env python3
"""The cost model of docs/distributed.md against bench/dist_bench.sh's measurements.

Reads dist_bench.sh's output (stdin or a file). For each rate setting, the model's two
parameters come from the collective micro-benchmarks of that setting only:
  alpha = DataParallel's 1-float reduction / (2 (N-1))            (per-message latency)
  beta  = 2 (N-1)/N * 8.41 MB / (DataParallel's 8.41 MB reduction - 2 (N-1) alpha)
and the predicted step time of each workload is
  solo step (the same process training alone, the other core busy alike)
  + buckets * 2 (N-1) alpha + 2 (N-1)/N * dense bytes / beta          (Ember's reduction)
  + [row-sparse] 4 (N-1) alpha + (N-1) * rows bytes / beta + N * rows bytes / merge
with no credit for overlap. It prints predicted against measured (overlap off and on).
"""
import re
import sys

MERGE = 2.0e9  # B/s: coalescing gathered rows, bench/dist_projection.py
step_re = re.compile(r"^(?P<name>.+?)\s+ranks=(?P<n>\d+) (?P<mode>solo|overlap|no-overlap) "
                     r"bucket=(?P<kb>\d+)KB .*?"
                     r"(?P<ms>[\d.]+) ms/step .*?dense (?P<dense>\d+) KB \+ sparse (?P<sparse>\d+) KB"
                     r".*?(?P<over>\d+) of (?P<buckets>\d+) buckets")
red_re = re.compile(r"^all_reduce\s+(?P<what>.+?)\s+(?P<mb>[\d.]+) MB\s+(?P<us>[\d.]+) us.*"
                    r"DataParallel\s+(?P<dp>[\d.]+) us")

text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
settings = re.split(r"^== ", text, flags=re.M)[1:]
print("| setting | workload | solo ms | predicted ms | measured ms (no overlap) | error "
      "| measured ms (overlap) | efficiency no overlap / overlap |")
print("|---|---|---|---|---|---|---|---|")
for block in settings:
    title = block.splitlines()[0].strip()
    if "ZeRO" in title:
        continue
    steps, reds = {}, {}
    for line in block.splitlines():
        m = step_re.match(line)
        if m:
            key = m["name"].strip()
            if m["mode"] == "overlap" and m["kb"] != "25600":
                key += f" ({int(m['kb']) // 1024} MB buckets)"
            steps.setdefault(key, {})[m["mode"]] = m
        m = red_re.match(line)
        if m:
            reds[m["what"].strip()] = m
    n = 2
    alpha = float(reds["1 float"]["dp"]) * 1e-6 / (2 * (n - 1))
    size = float(reds["mlp 1024"]["mb"]) * 1e6
    beta = 2 * (n - 1) / n * size / (float(reds["mlp 1024"]["dp"]) * 1e-6 - 2 * (n - 1) * alpha)
    print(f"| {title}: alpha {alpha * 1e6:.0f} us, beta {beta / 1e9:.2f} GB/s | | | | | | | |")
    for name, modes in steps.items():
        base = re.sub(r" \(\d+ MB buckets\)", "", name)
        if "solo" not in steps.get(base, {}) or "no-overlap" not in steps.get(base, {}):
            continue
        solo = float(steps[base]["solo"]["ms"]) * 1e-3
        m = steps[base]["no-overlap"]
        dense, sparse = float(m["dense"]) * 1e3, float(m["sparse"]) * 1e3
        comm = int(m["buckets"]) * 2 * (n - 1) * alpha + 2 * (n - 1) / n * dense / beta
        if sparse > 0:
            comm += 4 * (n - 1) * alpha + (n - 1) * sparse / beta + n * sparse / MERGE
        predicted = solo + comm
        measured = float(m["ms"]) * 1e-3
        over = modes.get("overlap")
        over_ms = float(over["ms"]) * 1e-3 if over else float("nan")
        print(f"| | {name} | {solo * 1e3:.2f} | {predicted * 1e3:.2f} | {measured * 1e3:.2f} | "
              f"{100 * (predicted - measured) / measured:+.0f}% | {over_ms * 1e3:.2f} | "
              f"{solo / measured:.2f} / {solo / over_ms:.2f} |")
