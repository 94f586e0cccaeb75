"""Golden values for every core op fed a non-contiguous input: a transposed, a narrowed and an
expanded view of a leaf (each [3, 4]). Called by make_golden.py; writes noncontiguous.txt. The
gradients are those of the leaf, so they also check each view's backward.
"""
import os

import torch
import torch.nn.functional as F

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))

# view name -> (leaf shape, the view of it): every view is [3, 4].
VIEWS = {
    "t": ((4, 3), lambda x: x.t()),
    "narrow": ((3, 6), lambda x: x.narrow(1, 1, 4)),
    "expand": ((3, 1), lambda x: x.expand(3, 4)),
}

# op name -> (fn(view, other [3,4]), positive inputs?)
OPS = {
    "add": (lambda v, o: v + o, False),
    "sub_broadcast": (lambda v, o: v - o[0], False),
    "mul": (lambda v, o: v * o, False),
    "div": (lambda v, o: o / v, True),
    "neg": (lambda v, o: -v, False),
    "pow": (lambda v, o: v ** 3, False),
    "exp": (lambda v, o: torch.exp(v), False),
    "log": (lambda v, o: torch.log(v), True),
    "sqrt": (lambda v, o: torch.sqrt(v), True),
    "abs": (lambda v, o: torch.abs(v), False),
    "clamp": (lambda v, o: torch.clamp(v, -0.5, 0.5), False),
    "sin": (lambda v, o: torch.sin(v), False),
    "log1p": (lambda v, o: torch.log1p(v), True),
    "relu": (lambda v, o: F.relu(v), False),
    "sigmoid": (lambda v, o: torch.sigmoid(v), False),
    "tanh": (lambda v, o: torch.tanh(v), False),
    "gelu": (lambda v, o: F.gelu(v), False),
    "silu": (lambda v, o: F.silu(v), False),
    "softplus": (lambda v, o: F.softplus(v), False),
    "maximum": (lambda v, o: torch.maximum(v, o), False),
    "softmax": (lambda v, o: torch.softmax(v, 1), False),
    "log_softmax": (lambda v, o: torch.log_softmax(v, 0), False),
    "matmul": (lambda v, o: v @ o.t(), False),
    "linear": (lambda v, o: F.linear(v, o), False),
    "sum": (lambda v, o: v.sum(), False),
    "sum_dim0": (lambda v, o: v.sum(0), False),
    "mean_dim1": (lambda v, o: v.mean(1), False),
    "max_dim1": (lambda v, o: v.max(1).values, False),
    "amin": (lambda v, o: v.amin(0), False),
    "var": (lambda v, o: v.var(1), False),
    "logsumexp": (lambda v, o: v.logsumexp(1), False),
    "norm": (lambda v, o: v.norm(2, 0), False),
    "cumsum": (lambda v, o: v.cumsum(1), False),
    "topk": (lambda v, o: v.topk(2, 1).values, False),
    "triu": (lambda v, o: torch.triu(v), False),
    "cat": (lambda v, o: torch.cat([v, o], 0), False),
    "stack": (lambda v, o: torch.stack([v, o], 1), False),
    "index_select": (lambda v, o: v.index_select(1, torch.tensor([3, 0, 3])), False),
    "gather": (lambda v, o: v.gather(1, torch.tensor([[0, 3], [1, 1], [2, 0]])), False),
    "masked_fill": (lambda v, o: v.masked_fill(o > 0, -2.0), False),
    "where": (lambda v, o: torch.where(o > 0, v, o), False),
    "index_add": (lambda v, o: v.index_add(0, torch.tensor([2, 0]), o[:2]), False),
    "scatter_add": (lambda v, o: o.scatter_add(1, torch.tensor([[0, 3], [1, 1], [2, 0]]),
                                               v[:, :2]), False),
    "reshape": (lambda v, o: v.reshape(4, 3) * 2, False),
    "cross_entropy": (lambda v, o: F.cross_entropy(v, torch.tensor([1, 0, 3])), False),
    "mse_loss": (lambda v, o: F.mse_loss(v, o), False),
    "layer_norm": (lambda v, o: F.layer_norm(v, (3, 4)), False),
}


def write_cases(w, dtype=torch.float32):
    """dtype: the leaf, other and gout converted to it (make_golden_float64.py's float64)."""
    for op, (fn, positive) in OPS.items():
        for view, (shape, make_view) in VIEWS.items():
            name = f"{op}.{view}"
            leaf = (torch.rand(shape) + 0.5 if positive else torch.randn(shape)).to(dtype)
            leaf.requires_grad_(True)
            other = torch.randn(3, 4).to(dtype)
            out = fn(make_view(leaf), other)
            gout = torch.randn(out.shape).to(dtype)
            out.backward(gout)
            w.tensor(name, "x0", leaf)
            w.tensor(name, "x1", other)
            w.tensor(name, "gout", gout)
            w.tensor(name, "out", out)
            w.tensor(name, "grad0", leaf.grad)


def main():
    torch.manual_seed(12)
    with Writer(os.path.join(HERE, "noncontiguous.txt")) as w:
        write_cases(w)


if __name__ == "__main__":
    main()
