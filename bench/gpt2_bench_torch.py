"""PyTorch 1.13 twin of bench/gpt2_bench.cpp: the same GPT-2 (tests/golden/make_golden_hf.py's
hub-named model), B x T training steps with AdamW, then greedy decoding with its own KV cache
(past_key_values: each layer's keys and values concatenated step by step, as transformers does).
    /usr/bin/python3 bench/gpt2_bench_torch.py [layers dim heads vocab batch seq steps gen threads]
"""
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from make_golden_hf import GPT2LMHeadModel, gelu_new  # noqa: E402


def cached_forward(model, ids, past):
    """Logits of `ids` [B, T] after the cached prefix; appends to past (a list of (k, v))."""
    tr = model.transformer
    start = past[0][0].size(2) if past else 0
    pos = torch.arange(start, start + ids.size(1)).unsqueeze(0)
    x = tr.wte(ids) + tr.wpe(pos)
    new_past = []
    for i, block in enumerate(tr.h):
        a = block.attn
        h = block.ln_1(x)
        q, k, v = a.c_attn(h).split(a.embed_dim, dim=2)
        q, k, v = a.split(q), a.split(k), a.split(v)
        if past:
            k = torch.cat([past[i][0], k], dim=2)
            v = torch.cat([past[i][1], v], dim=2)
        new_past.append((k, v))
        w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
        t, s = q.size(2), k.size(2)
        causal = torch.tril(torch.ones(t, s, dtype=torch.bool), diagonal=s - t)
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min))
        o = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).reshape(h.shape)
        x = x + a.c_proj(o)
        x = x + block.mlp.c_proj(gelu_new(block.mlp.c_fc(block.ln_2(x))))
    return model.lm_head(tr.ln_f(x)), new_past


def main():
    a = [int(v) for v in sys.argv[1:]]
    d = [12, 768, 12, 50257, 4, 64, 3, 32, 1]
    layers, dim, heads, vocab, B, T, steps, gen, threads = a + d[len(a):]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    c = {"n_embd": dim, "n_head": heads, "n_layer": layers, "vocab_size": vocab,
         "n_positions": max(T, 8 + gen), "layer_norm_epsilon": 1e-5}
    model = GPT2LMHeadModel(c)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, vocab, (B, T))
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        # EMBER_AUTOCAST=1: the forward under CPU bfloat16 autocast, as the Ember bench's.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled="EMBER_AUTOCAST" in os.environ):
            loss = GPT2LMHeadModel.loss(model(ids), ids)
        loss.backward()
        opt.step()
        if s > 0:
            times.append(time.perf_counter() - t0)
        print(f"step {s} loss {loss.item():.6f}")
    times.sort()
    autocast = 1 if "EMBER_AUTOCAST" in os.environ else 0
    print(f"torch train_step_s {times[len(times) // 2]:.4f} (median of {len(times)}) threads {threads} autocast {autocast}")
    print(f"torch peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    with torch.no_grad():
        seq = ids[:1, :8]
        t0 = time.perf_counter()
        logits, past = cached_forward(model, seq, [])
        out = []
        for _ in range(gen):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            out.append(nxt)
            if len(out) == gen:
                break
            logits, past = cached_forward(model, nxt, past)
        secs = time.perf_counter() - t0
    print(f"torch generate_tokens_per_s {len(out) / secs:.2f} ({len(out)} tokens after an 8-token prompt, KV cache)")


if __name__ == "__main__":
    main()
