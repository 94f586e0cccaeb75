#!/usr/bin/python3
"""Golden values from PyTorch for Ember's tests.

Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_golden.py
Writes ops.txt (and the other *.txt files) beside this script. Each line is
    <case> <key> <shape as d0,d1 or - for a scalar> <values...>
Keys: x0, x1, ... inputs; idx0 ... index inputs; gout the upstream gradient; out the
output; grad0, ... the input gradients. Float values are written with 9 significant digits.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import Writer  # noqa: E402


def rn(*shape):
    return torch.randn(*shape)


def pos(*shape):
    return torch.rand(*shape) + 0.5


# The inputs below are drawn when this module loads: seed first, so every run writes the same.
torch.manual_seed(0)

# name -> (function of (float inputs, index inputs), float inputs, index inputs)
OPS = {
    "add": (lambda x, i: x[0] + x[1], [rn(3, 4), rn(4)], []),
    "sub": (lambda x, i: x[0] - x[1], [rn(2, 3, 4), rn(3, 1)], []),
    "mul": (lambda x, i: x[0] * x[1], [rn(1, 4), rn(3, 1)], []),
    "div": (lambda x, i: x[0] / x[1], [rn(3, 4), pos(3, 4)], []),
    "add_scalar": (lambda x, i: x[0] + 2.5, [rn(3, 4)], []),
    "mul_scalar": (lambda x, i: x[0] * -1.5, [rn(3, 4)], []),
    "rsub_scalar": (lambda x, i: 2.0 - x[0], [rn(3, 4)], []),
    "rdiv_scalar": (lambda x, i: 2.0 / x[0], [pos(3, 4)], []),
    "neg": (lambda x, i: -x[0], [rn(3, 4)], []),
    "pow": (lambda x, i: x[0] ** 3, [rn(3, 4)], []),
    "exp": (lambda x, i: torch.exp(x[0]), [rn(3, 4)], []),
    "log": (lambda x, i: torch.log(x[0]), [pos(3, 4)], []),
    "sqrt": (lambda x, i: torch.sqrt(x[0]), [pos(3, 4)], []),
    "abs": (lambda x, i: torch.abs(x[0]), [rn(3, 4)], []),
    "clamp": (lambda x, i: torch.clamp(x[0], -0.5, 0.5), [rn(3, 4)], []),
    "relu": (lambda x, i: F.relu(x[0]), [rn(3, 4)], []),
    "leaky_relu": (lambda x, i: F.leaky_relu(x[0], 0.1), [rn(3, 4)], []),
    "sigmoid": (lambda x, i: torch.sigmoid(x[0]), [rn(3, 4)], []),
    "tanh": (lambda x, i: torch.tanh(x[0]), [rn(3, 4)], []),
    "gelu": (lambda x, i: F.gelu(x[0]), [rn(3, 4)], []),
    "softmax_dim1": (lambda x, i: torch.softmax(x[0], 1), [rn(2, 3, 4)], []),
    "softmax_dim0": (lambda x, i: torch.softmax(x[0], 0), [rn(2, 3, 4)], []),
    "log_softmax_dim2": (lambda x, i: torch.log_softmax(x[0], 2), [rn(2, 3, 4)], []),
    "log_softmax_dim1": (lambda x, i: torch.log_softmax(x[0], 1), [rn(2, 3, 4)], []),
    "matmul_2d": (lambda x, i: x[0] @ x[1], [rn(3, 4), rn(4, 5)], []),
    "matmul_3d_2d": (lambda x, i: x[0] @ x[1], [rn(2, 3, 4), rn(4, 5)], []),
    "matmul_3d_3d": (lambda x, i: x[0] @ x[1], [rn(2, 3, 4), rn(2, 4, 5)], []),
    "linear": (lambda x, i: F.linear(x[0], x[1], x[2]), [rn(2, 3, 4), rn(5, 4), rn(5)], []),
    "sum_all": (lambda x, i: x[0].sum(), [rn(2, 3, 4)], []),
    "sum_dims_0_2": (lambda x, i: x[0].sum((0, 2)), [rn(2, 3, 4)], []),
    "sum_keepdim": (lambda x, i: x[0].sum(-1, keepdim=True), [rn(2, 3, 4)], []),
    "mean_all": (lambda x, i: x[0].mean(), [rn(2, 3, 4)], []),
    "mean_dim1": (lambda x, i: x[0].mean(1), [rn(2, 3, 4)], []),
    "max_all": (lambda x, i: x[0].max(), [rn(2, 3, 4)], []),
    "max_dim1": (lambda x, i: x[0].max(1).values, [rn(2, 3, 4)], []),
    "transpose": (lambda x, i: x[0].transpose(0, 2), [rn(2, 3, 4)], []),
    "permute": (lambda x, i: x[0].permute(1, 2, 0), [rn(2, 3, 4)], []),
    "reshape": (lambda x, i: x[0].reshape(4, -1), [rn(2, 3, 4)], []),
    "cat_dim1": (lambda x, i: torch.cat([x[0], x[1]], 1), [rn(2, 3), rn(2, 2)], []),
    "stack_dim1": (lambda x, i: torch.stack([x[0], x[1]], 1), [rn(2, 3), rn(2, 3)], []),
    "index_select": (lambda x, i: torch.index_select(x[0], 0, i[0]), [rn(3, 4)],
                     [torch.tensor([2, 0, 2])]),
    "gather": (lambda x, i: torch.gather(x[0], 1, i[0]), [rn(2, 4)],
               [torch.tensor([[0, 2, 1], [1, 0, 0]])]),
    "where": (lambda x, i: torch.where(i[0] != 0, x[0], x[1]), [rn(2, 3), rn(3)],
              [torch.tensor([[1, 0, 1], [0, 0, 1]])]),
    "masked_fill": (lambda x, i: x[0].masked_fill(i[0] != 0, -2.0), [rn(2, 3)],
                    [torch.tensor([[1, 0, 1], [0, 0, 1]])]),
    "cross_entropy": (lambda x, i: F.cross_entropy(x[0], i[0]), [rn(4, 5)],
                      [torch.tensor([1, 0, 3, 2])]),
    "cross_entropy_smooth_ignore": (
        lambda x, i: F.cross_entropy(x[0], i[0], ignore_index=2, label_smoothing=0.1),
        [rn(4, 5)], [torch.tensor([1, 2, 3, 0])]),
    "cross_entropy_sum": (lambda x, i: F.cross_entropy(x[0], i[0], reduction="sum"), [rn(4, 5)],
                          [torch.tensor([1, 0, 3, 2])]),
    "cross_entropy_none": (lambda x, i: F.cross_entropy(x[0], i[0], reduction="none"),
                           [rn(4, 5)], [torch.tensor([1, 0, 3, 2])]),
    "nll_loss": (lambda x, i: F.nll_loss(x[0], i[0]), [rn(4, 5)], [torch.tensor([1, 0, 3, 2])]),
    "mse_loss": (lambda x, i: F.mse_loss(x[0], x[1]), [rn(3, 2), rn(3, 2)], []),
    "bce_with_logits": (lambda x, i: F.binary_cross_entropy_with_logits(x[0], x[1]),
                        [rn(3, 2), torch.rand(3, 2)], []),
    "gelu_tanh": (lambda x, i: F.gelu(x[0], approximate="tanh"), [rn(3, 4) * 3], []),
}


def make_ops(w, dtype=torch.float32):
    """dtype: the float inputs and gout converted to it (make_golden_float64.py's float64)."""
    for name, (fn, xs, idx) in OPS.items():
        xs = [x.to(dtype).clone().requires_grad_(True) for x in xs]
        out = fn(xs, idx)
        gout = torch.randn(out.shape).to(dtype)
        out.backward(gout)
        for k, x in enumerate(xs):
            w.tensor(name, f"x{k}", x)
        for k, t in enumerate(idx):
            w.tensor(name, f"idx{k}", t)
        w.tensor(name, "gout", gout)
        w.tensor(name, "out", out)
        for k, x in enumerate(xs):
            w.tensor(name, f"grad{k}", x.grad)


def main():
    torch.manual_seed(0)
    with Writer(os.path.join(HERE, "ops.txt")) as w:
        make_ops(w)
    for extra in ("make_golden_ops_more", "make_golden_noncontiguous", "make_golden_nn", "make_golden_io", "make_golden_optim", "make_golden_bert"):
        path = os.path.join(HERE, extra + ".py")
        if os.path.exists(path):
            __import__(extra).main()


if __name__ == "__main__":
    main()
