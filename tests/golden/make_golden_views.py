#!/usr/bin/python3
"""Golden values from PyTorch for views, in-place ops, broadcast matmul and non-contiguous
inputs to existing ops (tests/test_views.cpp).

Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_golden_views.py
Writes views.txt beside this script, in make_golden.py's line format.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import Writer  # noqa: E402

torch.manual_seed(0)


def rn(*shape):
    return torch.randn(*shape)


def chunked(x):
    c = x.chunk(3, 1)
    return c[0] * c[2] + c[1]


def unbound(x):
    u = x.unbind(1)
    return u[0] * u[2] + u[1]


def inplace(fn):
    """y = x0 * 1 (a non-leaf), then fn(y, x) changes it in place; the case's output is y."""
    def run(x):
        y = x[0] * 1.0
        fn(y, x)
        return y
    return run


def fresh_filled(x):
    """A tensor that needs no grad, filled column by column from tensors that do."""
    h = torch.zeros(3, 4)
    h.select(1, 0).copy_(x[0] * 2.0)
    h.select(1, 2).copy_(x[1])
    return h


def view_used_after(x):
    y = x[0] * 1.0
    v = y.narrow(0, 0, 2)
    v.mul_(x[1])
    return v * y.sum()


def base_with_live_view(x):
    y = x[0] * 1.0
    v = y.narrow(1, 0, 2)
    y.mul_(x[1])
    return v * v


MASK = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)

# name -> (function of the float inputs, float inputs)
CASES = {
    # Views and their backward.
    "narrow": (lambda x: x[0].narrow(1, 1, 2), [rn(3, 4)]),
    "narrow_negative_start": (lambda x: x[0].narrow(0, -2, 2), [rn(3, 4)]),
    "select": (lambda x: x[0].select(0, 1), [rn(3, 4)]),
    "select_negative": (lambda x: x[0].select(1, -1), [rn(3, 4)]),
    "slice_step": (lambda x: x[0][:, 1:5:2], [rn(3, 5)]),
    "chunk": (lambda x: chunked(x[0]), [rn(2, 6)]),
    "split_sizes": (lambda x: (lambda s: s[1] * s[0])(x[0].split([1, 3], 1)), [rn(2, 4)]),
    "unbind": (lambda x: unbound(x[0]), [rn(3, 3)]),
    "expand": (lambda x: x[0].expand(3, 4) * x[1], [rn(1, 4), rn(3, 4)]),
    "expand_new_dims": (lambda x: x[0].expand(2, 3, 4), [rn(3, 1)]),
    "transpose": (lambda x: x[0].transpose(0, 2), [rn(2, 3, 4)]),
    "t": (lambda x: x[0].t(), [rn(3, 4)]),
    "view": (lambda x: x[0].view(3, -1), [rn(2, 6)]),
    "reshape_transposed": (lambda x: x[0].t().reshape(-1), [rn(3, 4)]),
    "flatten": (lambda x: x[0].flatten(1), [rn(2, 3, 4)]),
    "squeeze_dim": (lambda x: x[0].squeeze(1), [rn(3, 1, 4)]),
    "unsqueeze": (lambda x: x[0].unsqueeze(1), [rn(3, 4)]),
    "contiguous": (lambda x: x[0].t().contiguous() * x[1], [rn(3, 4), rn(4, 3)]),
    "chained_views": (lambda x: x[0].t().narrow(0, 1, 2).unsqueeze(0).expand(2, 2, 3),
                      [rn(3, 4)]),
    # In-place ops that PyTorch allows.
    "inplace_add": (inplace(lambda y, x: y.add_(x[1])), [rn(3, 4), rn(4)]),
    "inplace_add_alpha": (inplace(lambda y, x: y.add_(x[1], alpha=0.5)), [rn(3, 4), rn(3, 4)]),
    "inplace_sub": (inplace(lambda y, x: y.sub_(x[1])), [rn(3, 4), rn(3, 1)]),
    "inplace_mul": (inplace(lambda y, x: y.mul_(x[1])), [rn(3, 4), rn(3, 4)]),
    "inplace_div": (inplace(lambda y, x: y.div_(x[1])), [rn(3, 4), torch.rand(3, 4) + 0.5]),
    "inplace_scalars": (inplace(lambda y, x: y.mul_(2.0).add_(0.5).div_(4.0).sub_(1.0)),
                        [rn(3, 4)]),
    "inplace_zero": (lambda x: inplace(lambda y, _: y.zero_())(x) + x[1], [rn(3, 4), rn(3, 4)]),
    "inplace_fill": (lambda x: inplace(lambda y, _: y.fill_(0.25))(x) * x[1],
                     [rn(3, 4), rn(3, 4)]),
    "inplace_copy": (lambda x: inplace(lambda y, z: y.copy_(z[1]))(x) * 2.0, [rn(3, 4), rn(4)]),
    "inplace_clamp": (inplace(lambda y, x: y.clamp_(-0.5, 0.5)), [rn(3, 4)]),
    "inplace_masked_fill": (inplace(lambda y, x: y.masked_fill_(MASK, 0.3)), [rn(3, 4)]),
    "inplace_chain": (inplace(lambda y, x: y.mul_(x[1]).add_(x[1])), [rn(3, 4), rn(3, 4)]),
    # matmul with broadcast batch dims, 1-D operands, bmm.
    "matmul_4d_4d": (lambda x: x[0] @ x[1], [rn(2, 3, 4, 5), rn(2, 3, 5, 2)]),
    "matmul_broadcast_batch": (lambda x: x[0] @ x[1], [rn(2, 1, 3, 4), rn(3, 4, 5)]),
    "matmul_4d_2d": (lambda x: x[0] @ x[1], [rn(2, 3, 4, 5), rn(5, 2)]),
    "matmul_2d_3d": (lambda x: x[0] @ x[1], [rn(3, 4), rn(2, 4, 5)]),
    "matmul_1d_1d": (lambda x: x[0] @ x[1], [rn(4), rn(4)]),
    "matmul_1d_2d": (lambda x: x[0] @ x[1], [rn(4), rn(4, 3)]),
    "matmul_2d_1d": (lambda x: x[0] @ x[1], [rn(3, 4), rn(4)]),
    "matmul_1d_3d": (lambda x: x[0] @ x[1], [rn(4), rn(2, 4, 3)]),
    "matmul_3d_1d": (lambda x: x[0] @ x[1], [rn(2, 3, 4), rn(4)]),
    "bmm": (lambda x: torch.bmm(x[0], x[1]), [rn(2, 3, 4), rn(2, 4, 5)]),
    # Existing ops on non-contiguous inputs (transposed, narrowed, expanded).
    "add_transposed": (lambda x: x[0].t() + x[1], [rn(4, 3), rn(3, 4)]),
    "mul_expanded": (lambda x: x[0].expand(3, 4) * x[1], [rn(4), rn(3, 4)]),
    "softmax_transposed": (lambda x: torch.softmax(x[0].transpose(0, 1), 1), [rn(3, 4)]),
    "log_softmax_narrowed": (lambda x: torch.log_softmax(x[0].narrow(1, 1, 3), 1), [rn(3, 5)]),
    "matmul_transposed": (lambda x: x[0].t() @ x[1].t(), [rn(4, 3), rn(5, 4)]),
    "linear_transposed": (lambda x: F.linear(x[0].t(), x[1], x[2]), [rn(4, 3), rn(2, 4), rn(2)]),
    "sum_permuted": (lambda x: x[0].permute(2, 0, 1).sum(1), [rn(2, 3, 4)]),
    "mean_sliced": (lambda x: x[0][:, ::2].mean(), [rn(3, 6)]),
    "tanh_selected": (lambda x: torch.tanh(x[0].select(1, 2)), [rn(3, 4)]),
    "exp_narrowed": (lambda x: torch.exp(x[0].narrow(0, 1, 2)), [rn(3, 4)]),
    "cat_views": (lambda x: torch.cat([x[0].t(), x[1].narrow(0, 0, 2)], 0),
                  [rn(4, 3), rn(3, 4)]),
    "layer_norm_transposed": (lambda x: F.layer_norm(x[0].t(), (3,)), [rn(3, 4)]),
    # In-place ops on views that record gradients: the base's history is rewritten
    # (CopySlices), and the view becomes a view of the new base.
    "inplace_on_view": (inplace(lambda y, x: y.narrow(1, 1, 2).mul_(x[1])), [rn(3, 4), rn(3, 2)]),
    "inplace_on_view_of_fresh": (lambda x: fresh_filled(x) * fresh_filled(x), [rn(3), rn(3)]),
    "inplace_on_chained_view": (inplace(lambda y, x: y.t().narrow(0, 1, 2).add_(x[1])),
                                [rn(3, 4), rn(2, 3)]),
    "inplace_view_used_after": (lambda x: view_used_after(x), [rn(3, 4), rn(2, 4)]),
    "inplace_base_with_live_view": (lambda x: base_with_live_view(x), [rn(3, 4), rn(3, 4)]),
    "inplace_on_two_views": (inplace(lambda y, x: (y.select(0, 0).mul_(2.0),
                                                   y.select(0, 2).add_(x[1]))),
                             [rn(3, 4), rn(4)]),
}


def main():
    torch.manual_seed(0)
    with Writer(os.path.join(HERE, "views.txt")) as w:
        for name, (fn, xs) in CASES.items():
            xs = [x.clone().requires_grad_(True) for x in xs]
            out = fn(xs)
            gout = torch.randn(out.shape)
            out.backward(gout)
            for k, x in enumerate(xs):
                w.tensor(name, f"x{k}", x)
            w.tensor(name, "gout", gout)
            w.tensor(name, "out", out)
            for k, x in enumerate(xs):
                w.tensor(name, f"grad{k}", x.grad)


if __name__ == "__main__":
    main()
