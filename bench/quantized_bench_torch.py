#!/usr/bin/python3
"""PyTorch 1.13's twin of bench/quantized_bench.cpp: float32 vs quantize_dynamic inference of the
same Linear and LSTM shapes on 1 and 2 threads, medians of interleaved runs, under no_grad.

Debian's torch has the onednn and qnnpack engines (no fbgemm); onednn is its default and used
here, with the idiomatic call quantize_dynamic(model, {nn.Linear, nn.LSTM}, dtype=torch.qint8).
Usage: /usr/bin/python3 bench/quantized_bench_torch.py [--runs=N] [--only=SUBSTRING]
"""
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.ao.quantization import quantize_dynamic


def seconds_per_call(f):
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            f()
        s = time.perf_counter() - t0
        if s > 0.03 or calls > (1 << 20):
            return s / calls
        calls *= 10 if s < 0.003 else 2


class Holder(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer


def main():
    runs, only = 7, ""
    for a in sys.argv[1:]:
        if a.startswith("--runs="):
            runs = int(a[7:])
        elif a.startswith("--only="):
            only = a[7:]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown")
    torch.backends.quantized.engine = "onednn"
    print(f"cpu: {cpu}\ntorch {torch.__version__}, quantized engine {torch.backends.quantized.engine}")
    print(f"median of {runs} interleaved runs; no_grad\n")
    torch.manual_seed(22)
    cases = []
    for batch, i, o, what in [(64, 768, 3072, "BERT FFN"), (512, 1024, 1024, ""),
                              (32, 64, 128, "classifier fc1 (bag)"),
                              (1024, 64, 128, "classifier fc1, 1024 sentences"),
                              (32, 128, 4, "classifier fc2")]:
        f = nn.Linear(i, o)
        q = quantize_dynamic(Holder(f), {nn.Linear, nn.LSTM}, dtype=torch.qint8).layer
        x = torch.randn(batch, i)
        name = f"Linear {batch}x{i}->{o}" + (f" ({what})" if what else "")
        cases.append((name, (lambda f=f, x=x: f(x)), (lambda q=q, x=x: q(x))))
    for b, t, i, h, what in [(32, 64, 256, 512, ""), (32, 32, 64, 128, "classifier lstm")]:
        f = nn.LSTM(i, h, batch_first=True)
        q = quantize_dynamic(Holder(f), {nn.Linear, nn.LSTM}, dtype=torch.qint8).layer
        x = torch.randn(b, t, i)
        name = f"LSTM B={b} T={t} I={i} H={h}" + (f" ({what})" if what else "")
        cases.append((name, (lambda f=f, x=x: f(x)), (lambda q=q, x=x: q(x))))
    print(f"{'shape':52} {'threads':>7} {'fp32 ms':>9} {'int8 ms':>9} {'speed-up':>8}")
    with torch.no_grad():
        for name, fp32, int8 in cases:
            if only not in name:
                continue
            for threads in (1, 2):
                torch.set_num_threads(threads)
                fp32()
                int8()
                f, q = [], []
                for _ in range(runs):
                    f.append(seconds_per_call(fp32))
                    q.append(seconds_per_call(int8))
                mf, mq = statistics.median(f) * 1e3, statistics.median(q) * 1e3
                print(f"{name:52} {threads:7d} {mf:9.3f} {mq:9.3f} {mf / mq:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
