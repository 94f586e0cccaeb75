#!/usr/bin/python3
"""Golden values for the ops that take a scalar, in float64 (PyTorch's Scalar is a double, and a
float64 tensor computes with it exactly), read by tests/test_golden_float64_scalars.cpp.

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tests/golden/make_golden_float64_scalars.py
Writes float64_scalars.txt with 17 significant digits (a float64 round-trips), in the line format
of golden_io.py. A case is named <op>.<tag>; its keys: s the op's scalars (in the order the
Ember call takes them), x0 (x1) the float64 inputs, mask a bool mask as 0/1, idx0 an index,
gout the upstream gradient, out the output (a bool output as 0/1), grad0 (grad1) the gradients.
The scalars are the awkward ones: 0.1 and 1/3 (no float32 is either), 1e-7, -2.5.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import Writer  # noqa: E402

SCALARS = {"tenth": 0.1, "third": 1 / 3, "tiny": 1e-7, "neg2_5": -2.5}
D = torch.float64


def rn(*shape):
    return torch.randn(shape, dtype=D) * 2


def pos(*shape):
    return torch.rand(shape, dtype=D) + 0.25


def near(s):
    """Values around s: s itself, its float32 rounding widened, its float64 neighbours, others."""
    f32 = float(torch.tensor(s, dtype=torch.float32))
    t = torch.tensor(s, dtype=D)
    up, down = torch.nextafter(t, t + 1), torch.nextafter(t, t - 1)
    return torch.stack([t, torch.tensor(f32, dtype=D), up, down, -t, t * 2]).reshape(2, 3)


def write(w, name, scalars, inputs, fn, extra=None):
    """One case: out = fn(*leaves); with float inputs, their gradients for a random gout."""
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    out = fn(*leaves)
    w.tensor(name, "s", torch.tensor(scalars, dtype=D))
    for k, x in enumerate(inputs):
        w.tensor(name, f"x{k}", x)
    for key, v in (extra or {}).items():
        w.tensor(name, key, v)
    if out.dtype == torch.bool:
        w.tensor(name, "out", out.to(D))
        return
    w.tensor(name, "out", out)
    if leaves and out.requires_grad:
        gout = rn(*out.shape)
        out.backward(gout)
        w.tensor(name, "gout", gout)
        for k, x in enumerate(leaves):
            w.tensor(name, f"grad{k}", x.grad)


def write_cases(w):
    for tag, s in SCALARS.items():
        write(w, f"add.{tag}", [s], [rn(3, 4)], lambda x: x + s)
        write(w, f"sub.{tag}", [s], [rn(3, 4)], lambda x: x - s)
        write(w, f"rsub.{tag}", [s], [rn(3, 4)], lambda x: s - x)
        write(w, f"mul.{tag}", [s], [rn(3, 4)], lambda x: x * s)
        write(w, f"div.{tag}", [s], [rn(3, 4)], lambda x: x / s)
        write(w, f"rdiv.{tag}", [s], [pos(3, 4)], lambda x: s / x)
        write(w, f"pow.{tag}", [s], [pos(3, 4)], lambda x: x.pow(s))
        write(w, f"add_alpha.{tag}", [s], [rn(3, 4), rn(3, 4)],
              lambda x, y: x.clone().add_(y, alpha=s))
        write(w, f"index_add.{tag}", [s], [rn(4, 3), rn(2, 3)],
              lambda x, y: x.index_add(0, torch.tensor([2, 0]), y, alpha=s),
              {"idx0": torch.tensor([2, 0])})
        write(w, f"leaky_relu.{tag}", [s], [rn(3, 4)], lambda x: F.leaky_relu(x, s))
        for op in ("eq", "ne", "lt", "le", "gt", "ge"):
            write(w, f"{op}.{tag}", [s], [near(s)], lambda x: getattr(torch, op)(x, s))
        mask = torch.rand(3, 4) < 0.5
        extra = {"mask": mask.to(D)}
        write(w, f"where_other.{tag}", [s], [rn(3, 4)], lambda x: torch.where(mask, x, s), extra)
        write(w, f"where_self.{tag}", [s], [rn(3, 4)], lambda x: torch.where(mask, s, x), extra)
        write(w, f"masked_fill.{tag}", [s], [rn(3, 4)], lambda x: x.masked_fill(mask, s), extra)
        write(w, f"full.{tag}", [s], [], lambda: torch.full((2, 3), s, dtype=D))
        write(w, f"scalar_tensor.{tag}", [s], [], lambda: torch.scalar_tensor(s, dtype=D))
        write(w, f"fill.{tag}", [s], [rn(3, 4)], lambda x: x.clone().fill_(s))
    # Ops with two scalars, or where some scalars do not apply (clamp needs min <= max; norm's
    # p is positive, and p = 1e-7 overflows; softplus's beta is nonzero).
    for tag, (lo, hi) in {"neg2_5.tenth": (-2.5, 0.1), "third.tenth_plus_third": (-1 / 3, 0.1 + 1 / 3),
                          "tiny.third": (1e-7, 1 / 3)}.items():
        write(w, f"clamp.{tag}", [lo, hi], [rn(3, 4)], lambda x: x.clamp(lo, hi))
    # norm from its definition: PyTorch 1.13's norm kernel rounds p to float32 even for a float64
    # tensor (torch.norm(x, 0.1) equals the definition with p = 0.1f to the last bit), where
    # Ember's float64 norm uses the exact p. For p = 2.5, a float, torch.norm is checked equal.
    def p_norm(x, p, dim=None):
        total = (x.abs() ** p).sum() if dim is None else (x.abs() ** p).sum(dim)
        return total ** (1 / p)

    for tag, p in {"tenth": 0.1, "third": 1 / 3, "two_and_half": 2.5}.items():
        x = rn(3, 4)
        assert p != 2.5 or torch.allclose(torch.norm(x, p), p_norm(x, p), rtol=1e-15, atol=0)
        write(w, f"norm.{tag}", [p], [x], lambda x: p_norm(x, p))
        write(w, f"norm_dim.{tag}", [p], [rn(3, 4)], lambda x: p_norm(x, p, 1))
    for tag, (beta, threshold) in {"tenth.twenty": (0.1, 20.0), "third.third": (1 / 3, 1 / 3),
                                   "neg2_5.twenty": (-2.5, 20.0)}.items():
        write(w, f"softplus.{tag}", [beta, threshold], [rn(3, 4)],
              lambda x: F.softplus(x, beta, threshold))
    # arange(start, end, step): ceil((end - start) / step) elements, start + i * step in double.
    for tag, (a, b, st) in {"tenth": (0.0, 1.0, 0.1), "third": (-2.5, 1 / 3, 1 / 3),
                            "tiny": (1e-7, 0.3, 0.1), "down": (1.0, -2.5, -0.3)}.items():
        write(w, f"arange.{tag}", [a, b, st], [], lambda: torch.arange(a, b, st, dtype=D))
        # float32's: the same doubles rounded to float (what the float32 test reads exactly)
        write(w, f"arange_float32.{tag}", [a, b, st], [],
              lambda: torch.arange(a, b, st, dtype=torch.float32).to(D))


def main():
    torch.manual_seed(22)
    with Writer(os.path.join(HERE, "float64_scalars.txt"), D) as w:
        write_cases(w)


if __name__ == "__main__":
    main()
