"""Golden values for the ops of "Core 2" (issue 10): reductions with indices, statistics,
comparisons, scatter ops, and 0-d inputs to every op that takes a dim. Called by
make_golden.py; writes ops_more.txt in the format of ops.txt, plus `idxout` (the indices an op
returns) and no grads for ops that are not differentiated (comparisons, one_hot).
"""
import os

import torch
import torch.nn.functional as F

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))
INF = float("inf")


def rn(*shape):
    return torch.randn(shape)


def ties(*shape):
    """Small integers: equal elements, so tie rules are checked too."""
    return torch.randint(-2, 3, shape).float()


def idx(*values):
    return torch.tensor(values)


def cases():
    # name -> (fn(float inputs, index inputs) -> tensor or (values, indices), floats, indices)
    return {
        "min_all": (lambda x, i: x[0].min(), [ties(3, 4)], []),
        "max_all_ties": (lambda x, i: x[0].max(), [ties(3, 4)], []),
        "max_dim1_indices": (lambda x, i: tuple(x[0].max(1)), [rn(2, 3, 4)], []),
        "min_dim0_keepdim": (lambda x, i: tuple(x[0].min(0, keepdim=True)), [rn(3, 4)], []),
        "argmin_dim2": (lambda x, i: x[0].argmin(2), [rn(2, 3, 4)], []),
        "argmax_flat": (lambda x, i: x[0].argmax(), [rn(3, 4)], []),
        "amax_dims": (lambda x, i: x[0].amax((0, 2)), [ties(2, 3, 4)], []),
        "amin_keepdim": (lambda x, i: x[0].amin(-1, keepdim=True), [ties(3, 4)], []),
        "var_all": (lambda x, i: x[0].var(), [rn(3, 4)], []),
        "var_dims_biased": (lambda x, i: x[0].var((0, 2), unbiased=False), [rn(2, 3, 4)], []),
        "var_dim_keepdim": (lambda x, i: x[0].var(1, keepdim=True), [rn(2, 3, 4)], []),
        "std_all": (lambda x, i: x[0].std(), [rn(3, 4)], []),
        "std_dim0_biased": (lambda x, i: x[0].std(0, unbiased=False), [rn(3, 4)], []),
        "logsumexp_dim1": (lambda x, i: x[0].logsumexp(1), [rn(2, 3, 4)], []),
        "logsumexp_dims_keepdim": (lambda x, i: x[0].logsumexp((0, 2), keepdim=True),
                                   [rn(2, 3, 4)], []),
        "norm_2": (lambda x, i: x[0].norm(), [rn(3, 4)], []),
        "norm_1_dim": (lambda x, i: x[0].norm(1, 1), [rn(3, 4)], []),
        "norm_3_dims": (lambda x, i: x[0].norm(3, (0, 2)), [rn(2, 3, 4)], []),
        "norm_half_keepdim": (lambda x, i: x[0].norm(0.5, 0, keepdim=True), [rn(3, 4)], []),
        "norm_inf_dim": (lambda x, i: x[0].norm(INF, -1), [ties(3, 4)], []),
        "cumsum_dim0": (lambda x, i: x[0].cumsum(0), [rn(3, 4)], []),
        "cumsum_dim_last": (lambda x, i: x[0].cumsum(-1), [rn(2, 3, 4)], []),
        "topk_largest": (lambda x, i: tuple(x[0].topk(2)), [rn(3, 5)], []),
        "topk_smallest_dim0": (lambda x, i: tuple(x[0].topk(2, 0, largest=False)),
                               [rn(4, 3)], []),
        "maximum": (lambda x, i: torch.maximum(x[0], x[1]), [ties(3, 4), ties(4)], []),
        "minimum": (lambda x, i: torch.minimum(x[0], x[1]), [ties(3, 1), ties(3, 4)], []),
        "sin": (lambda x, i: torch.sin(x[0]), [rn(3, 4)], []),
        "cos": (lambda x, i: torch.cos(x[0]), [rn(3, 4)], []),
        "log1p": (lambda x, i: torch.log1p(x[0]), [torch.rand(3, 4) - 0.5], []),
        "silu": (lambda x, i: F.silu(x[0]), [rn(3, 4)], []),
        "softplus": (lambda x, i: F.softplus(x[0]), [rn(3, 4) * 4], []),
        "softplus_beta": (lambda x, i: F.softplus(x[0], beta=2, threshold=3), [rn(3, 4)], []),
        "triu": (lambda x, i: torch.triu(x[0]), [rn(3, 4)], []),
        "tril_diag_neg": (lambda x, i: torch.tril(x[0], -1), [rn(2, 3, 4)], []),
        "triu_diag_pos": (lambda x, i: torch.triu(x[0], 2), [rn(4, 3)], []),
        "eq": (lambda x, i: torch.eq(x[0], x[1]), [ties(3, 4), ties(4)], []),
        "ne": (lambda x, i: torch.ne(x[0], x[1]), [ties(3, 4), ties(3, 1)], []),
        "lt": (lambda x, i: torch.lt(x[0], x[1]), [ties(3, 4), ties(3, 4)], []),
        "le": (lambda x, i: torch.le(x[0], x[1]), [ties(3, 4), ties(3, 4)], []),
        "gt": (lambda x, i: torch.gt(x[0], x[1]), [ties(3, 4), ties(4)], []),
        "ge": (lambda x, i: torch.ge(x[0], x[1]), [ties(3, 4), ties(4)], []),
        "eq_scalar": (lambda x, i: x[0] == 1.0, [ties(3, 4)], []),
        "ne_scalar": (lambda x, i: x[0] != 1.0, [ties(3, 4)], []),
        "lt_scalar": (lambda x, i: x[0] < 0.5, [ties(3, 4)], []),
        "le_scalar": (lambda x, i: x[0] <= 0.0, [ties(3, 4)], []),
        "gt_scalar": (lambda x, i: x[0] > -1.0, [ties(3, 4)], []),
        "ge_scalar": (lambda x, i: x[0] >= 1.0, [ties(3, 4)], []),
        "one_hot": (lambda x, i: F.one_hot(i[0], 5), [], [idx(3, 0, 4, 0)]),
        "one_hot_infer": (lambda x, i: F.one_hot(i[0]), [], [torch.tensor([[1, 2], [0, 2]])]),
        "index_add_dim1": (lambda x, i: x[0].index_add(1, i[0], x[1], alpha=0.5),
                           [rn(2, 4, 3), rn(2, 3, 3)], [idx(3, 0, 3)]),
        "scatter_add_dim0": (lambda x, i: x[0].scatter_add(0, i[0], x[1]), [rn(3, 4), rn(2, 4)],
                             [torch.tensor([[0, 2, 1, 0], [2, 2, 0, 1]])]),
        "scatter_add_dim1": (lambda x, i: x[0].scatter_add(1, i[0], x[1]), [rn(2, 4), rn(2, 3)],
                             [torch.tensor([[0, 2, 2], [1, 1, 0]])]),
        # 0-d inputs to every op that takes a dim: PyTorch reads dim 0 / -1 as the one element.
        "zero_d_sum": (lambda x, i: x[0].sum(0), [rn()], []),
        "zero_d_sum_keepdim": (lambda x, i: x[0].sum(-1, keepdim=True), [rn()], []),
        "zero_d_mean": (lambda x, i: x[0].mean(0), [rn()], []),
        "zero_d_max": (lambda x, i: tuple(x[0].max(0)), [rn()], []),
        "zero_d_min": (lambda x, i: tuple(x[0].min(-1)), [rn()], []),
        "zero_d_argmax": (lambda x, i: x[0].argmax(0), [rn()], []),
        "zero_d_amax": (lambda x, i: x[0].amax(0), [rn()], []),
        "zero_d_var_biased": (lambda x, i: x[0].var(0, unbiased=False), [rn()], []),
        "zero_d_logsumexp": (lambda x, i: x[0].logsumexp(0), [rn()], []),
        "zero_d_norm": (lambda x, i: x[0].norm(2, 0), [rn()], []),
        "zero_d_cumsum": (lambda x, i: x[0].cumsum(0), [rn()], []),
        "zero_d_topk": (lambda x, i: tuple(x[0].topk(1, 0)), [rn()], []),
        "zero_d_softmax": (lambda x, i: x[0].softmax(0), [rn()], []),
        "zero_d_log_softmax": (lambda x, i: x[0].log_softmax(-1), [rn()], []),
        "zero_d_index_select": (lambda x, i: x[0].index_select(0, i[0]), [rn()], [idx(0)]),
        "zero_d_gather": (lambda x, i: x[0].gather(0, i[0]), [rn()], [torch.tensor(0)]),
        "zero_d_index_add": (lambda x, i: x[0].index_add(0, i[0], x[1]), [rn(), rn()],
                             [idx(0)]),
        "zero_d_scatter_add": (lambda x, i: x[0].scatter_add(0, i[0], x[1]), [rn(), rn()],
                               [torch.tensor(0)]),
        "zero_d_stack": (lambda x, i: torch.stack([x[0], x[1]], 0), [rn(), rn()], []),
        "zero_d_unsqueeze": (lambda x, i: x[0].unsqueeze(0) * 2, [rn()], []),
        "zero_d_squeeze": (lambda x, i: x[0].squeeze(0) * 2, [rn()], []),
        "zero_d_flatten": (lambda x, i: x[0].flatten() * 2, [rn()], []),
    }


def write_cases(w, dtype=torch.float32):
    """dtype: the float inputs and gout converted to it (make_golden_float64.py's float64)."""
    for name, (fn, xs, ids) in cases().items():
        xs = [x.to(dtype).clone().requires_grad_(True) for x in xs]
        result = fn(xs, ids)
        out, indices = result if isinstance(result, tuple) else (result, None)
        if out.dtype == torch.int64:  # argmax-like: indices only
            out, indices = None, out
        for k, x in enumerate(xs):
            w.tensor(name, f"x{k}", x)
        for k, t in enumerate(ids):
            w.tensor(name, f"idx{k}", t)
        if indices is not None:
            w.tensor(name, "idxout", indices)
        if out is None:
            continue
        w.tensor(name, "out", out.to(dtype))
        if out.requires_grad:
            gout = torch.randn(out.shape).to(dtype)
            out.backward(gout)
            w.tensor(name, "gout", gout)
            for k, x in enumerate(xs):
                w.tensor(name, f"grad{k}", x.grad if x.grad is not None else torch.zeros_like(x))


def main():
    torch.manual_seed(10)
    with Writer(os.path.join(HERE, "ops_more.txt")) as w:
        write_cases(w)


if __name__ == "__main__":
    main()
