"""Golden values for the numerics of issue 21 (tests/test_review_numerics.cpp): cross_entropy
on [N, C, d...] inputs (a sequence tagger's loss) and arange's length rule. Writes
review_numerics.txt in the format of ops.txt. Run with PyTorch 1.13:
    /usr/bin/python3 tests/golden/make_golden_review.py
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))


def f32(v):
    """The float32 value Ember receives for v (its arange takes floats)."""
    return float(np.float32(v))


def main():
    torch.manual_seed(21)
    with Writer(os.path.join(HERE, "review_numerics.txt")) as w:
        # name -> (logits shape, options); targets hold one ignore_index (-100) each.
        ce = {
            "ce_ncd_mean": ((2, 4, 3), {}),
            "ce_ncd_sum": ((2, 4, 3), {"reduction": "sum"}),
            "ce_ncd_none": ((2, 4, 3), {"reduction": "none"}),
            "ce_ncdd_smooth": ((2, 3, 2, 3), {"label_smoothing": 0.2}),
            "ce_ncd_ignore_smooth_none": ((3, 5, 2), {"label_smoothing": 0.1,
                                                      "reduction": "none"}),
        }
        for name, (shape, opts) in ce.items():
            x = torch.randn(shape, requires_grad=True)
            t = torch.randint(0, shape[1], (shape[0],) + shape[2:])
            t.view(-1)[1] = -100
            out = F.cross_entropy(x, t, **opts)
            gout = torch.randn(out.shape)
            out.backward(gout)
            w.tensor(name, "x0", x)
            w.tensor(name, "idx0", t)
            w.tensor(name, "out", out)
            w.tensor(name, "gout", gout)
            w.tensor(name, "grad0", x.grad)
        # (start, end, step) as float32, and what arange gives for them.
        ranges = [(0, 1, 0.1), (1, -1, -0.25), (-3.5, 7.25, 1.5), (0.3, 0.31, 0.001),
                  (5, 5, 1), (0, 10, 3)]
        for k, (a, b, s) in enumerate(ranges):
            a, b, s = f32(a), f32(b), f32(s)
            w.tensor(f"arange_{k}", "args", torch.tensor([a, b, s], dtype=torch.float64))
            w.tensor(f"arange_{k}", "out", torch.arange(a, b, s, dtype=torch.float32))


if __name__ == "__main__":
    main()
