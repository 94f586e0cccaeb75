#!/usr/bin/env python3
"""Alpha-beta projection of data-parallel step time and scaling efficiency (docs/distributed.md).

Ring collectives, which Open MPI uses for large messages:
  all_reduce(S bytes)            = 2(N-1) a + 2 (N-1)/N * S / b
  all_gatherv(s bytes per rank)  =  (N-1) a +   (N-1)   * s / b
plus, for the row-sparse exchange, merging the N ranks' rows (N * s bytes at `merge` B/s).
Efficiency (weak scaling, no overlap) = compute / (compute + communication).
Inputs are the figures bench/dist_bench.sh measured on this machine; pass others as
key=value arguments, e.g. compute_classifier=0.004.
"""
import sys

p = dict(
    compute_classifier=0.65e-3,  # s per local step (batch 64 x 32 tokens), 1 rank, 1 thread
    compute_mlp=6.9e-3,          # s per local step of the 1024-wide MLP (batch 64)
    classifier_dense=35_344,    # bytes: fc1 + fc2 gradients
    table=5_120_000,            # bytes: the 20000 x 64 embedding table
    rows=513_000,               # bytes per rank per step: touched rows as (int64 id, 64 floats)
    transformer=6_324_224,      # bytes: 2 encoder layers, d_model 256, ff 1024
    mlp=8_413_200,              # bytes
    merge=2.0e9,                # B/s: coalescing gathered rows (sort + sum), measured >= 2.3
)
for arg in sys.argv[1:]:
    k, v = arg.split("=")
    p[k] = float(v)

networks = {"10 Gb/s (TCP, a=25 us)": (25e-6, 1.25e9), "100 Gb/s (RDMA, a=2 us)": (2e-6, 12.5e9)}


def all_reduce(n, size, a, b):
    return 2 * (n - 1) * a + 2 * (n - 1) / n * size / b


def all_gather(n, per_rank, a, b):
    return (n - 1) * a + (n - 1) * per_rank / b


print("| network | ranks | classifier sparse: comm ms / eff | classifier dense table: comm ms / eff "
      "| transformer 6.3 MB all_reduce ms | mlp 8.4 MB: comm ms / eff |")
print("|---|---|---|---|---|---|")
for name, (a, b) in networks.items():
    for n in (8, 64, 512):
        sparse = (all_reduce(n, p["classifier_dense"], a, b) + 2 * (n - 1) * a  # counts, rows
                  + all_gather(n, p["rows"], a, b) + n * p["rows"] / p["merge"])
        dense = all_reduce(n, p["classifier_dense"] + p["table"], a, b)
        tr = all_reduce(n, p["transformer"], a, b)
        mlp = all_reduce(n, p["mlp"], a, b)
        c, m = p["compute_classifier"], p["compute_mlp"]
        print(f"| {name} | {n} | {1e3 * sparse:.1f} / {c / (c + sparse):.2f} "
              f"| {1e3 * dense:.1f} / {c / (c + dense):.2f} | {1e3 * tr:.1f} "
              f"| {1e3 * mlp:.1f} / {m / (m + mlp):.2f} |")
# Where the row exchange stops paying: (N-1) * rows > 2 * table (bandwidth terms).
print(f"\nrow-sparse beats the dense table while N - 1 < 2 * table / rows = "
      f"{2 * p['table'] / p['rows']:.1f}")
