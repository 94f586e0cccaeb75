#!/usr/bin/python3
"""Golden values for MultiheadAttention's attention weights as a differentiable output.

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tests/golden/make_golden_mha_weights.py
Writes mha_weights.txt (the line format of golden_io.py). Each case runs the layer as
make_golden_attention.py does, then backward of out·gout + weights·gweights, so every
parameter and input gradient carries the weights' term. Keys as make_golden_attention.py's,
plus gweights (the weights' upstream gradient). Float64, dropout 0: the values are exact.
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import Writer, write_leaves  # noqa: E402
from make_golden_attention import E, H, MHA, mha_inputs, randomize  # noqa: E402

CASES = ["mha_self", "mha_self_batch_first_kpm", "mha_mask3d_kpm", "mha_cross", "mha_kdim_vdim",
         "mha_no_bias_per_head", "mha_unbatched"]


def main():
    torch.manual_seed(21)
    torch.set_default_dtype(torch.float64)
    with Writer(os.path.join(HERE, "mha_weights.txt")) as w:
        for case in CASES:
            kw, L, S, N, self_attn, masks, average, unbatched = MHA[case]
            mha = nn.MultiheadAttention(E, H, **kw)
            randomize(mha)
            q, k, v, kpm, mask = mha_inputs(kw, L, S, N, self_attn, masks, unbatched)
            out, weights = mha(q, k, v, key_padding_mask=kpm, attn_mask=mask,
                               average_attn_weights=average)
            gout, gweights = torch.randn(out.shape), torch.randn(weights.shape)
            ((out * gout).sum() + (weights * gweights).sum()).backward()
            inputs = {"query": q} if self_attn else {"query": q, "key": k, "value": v}
            write_leaves(w, case, mha, inputs)
            for name, t in [("gout", gout), ("gweights", gweights), ("out", out),
                            ("weights", weights), ("kpm", kpm), ("mask", mask)]:
                if t is not None:
                    w.tensor(case, name, t.float() if name == "kpm" else t)


if __name__ == "__main__":
    main()
