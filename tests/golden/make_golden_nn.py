"""Golden values for the nn layers (called by make_golden.py; writes nn.txt).

Keys per case: weight (initial table or Linear weight), ids / offsets (index inputs), x, psw,
gout (upstream gradient), out, grad_weight (dense), grad_x, grad_psw, weight_after (the table
after the forward, for max_norm).
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))

V, D = 7, 4
IDS = torch.tensor([[1, 3, 3, 0], [5, 1, 6, 3]])

# name -> Embedding keyword arguments
EMBEDDING = {
    "plain": {},
    "padding_idx": {"padding_idx": 1},
    "padding_idx_negative": {"padding_idx": -2},
    "max_norm_l2": {"max_norm": 1.0},
    "max_norm_l1": {"max_norm": 1.5, "norm_type": 1.0},
    "scale_grad_by_freq": {"scale_grad_by_freq": True},
    "sparse": {"sparse": True},
    "sparse_padding_freq": {"sparse": True, "padding_idx": 3, "scale_grad_by_freq": True},
    "max_norm_padding_freq": {"max_norm": 1.2, "padding_idx": 1, "scale_grad_by_freq": True},
}

# name -> (EmbeddingBag kwargs, input, offsets or None, use per-sample weights)
BAGS = {
    "sum_2d": ({"mode": "sum"}, IDS, None, False),
    "mean_2d": ({"mode": "mean"}, IDS, None, False),
    "max_2d": ({"mode": "max"}, IDS, None, False),
    "sum_offsets": ({"mode": "sum"}, torch.tensor([1, 2, 4, 5, 4, 3, 2, 6]),
                    torch.tensor([0, 2, 2, 5]), False),
    "mean_offsets": ({"mode": "mean"}, torch.tensor([1, 2, 4, 5, 4, 3, 2, 6]),
                     torch.tensor([0, 2, 2, 5]), False),
    "max_offsets": ({"mode": "max"}, torch.tensor([1, 2, 4, 5, 4, 3, 2, 6]),
                    torch.tensor([0, 2, 2, 5]), False),
    "sum_weights": ({"mode": "sum"}, torch.tensor([1, 2, 4, 5, 4, 3, 2, 6]),
                    torch.tensor([0, 2, 2, 5]), True),
    "sum_last_offset": ({"mode": "sum", "include_last_offset": True},
                        torch.tensor([1, 2, 4, 5, 4, 3, 2, 6]), torch.tensor([0, 2, 5, 8]), False),
    "mean_padding": ({"mode": "mean", "padding_idx": 3}, IDS, None, False),
    "max_padding_sparse": ({"mode": "max", "padding_idx": 3, "sparse": True}, IDS, None, False),
    "sum_freq_sparse": ({"mode": "sum", "scale_grad_by_freq": True, "sparse": True}, IDS, None,
                        False),
}


def dense(g):
    return g.to_dense() if g.is_sparse else g


def make_linear(w, dtype=torch.float32):
    lin = nn.Linear(4, 3).to(dtype)
    x = torch.randn(2, 5, 4).to(dtype).requires_grad_(True)
    w.tensor("linear", "weight", lin.weight)
    w.tensor("linear", "bias", lin.bias)
    out = lin(x)
    gout = torch.randn(out.shape).to(dtype)
    out.backward(gout)
    for key, t in [("x", x), ("gout", gout), ("out", out), ("grad_x", x.grad),
                   ("grad_weight", lin.weight.grad), ("grad_bias", lin.bias.grad)]:
        w.tensor("linear", key, t)


def torch_kwargs(kwargs):
    """PyTorch 1.13 refuses sparse gradients with scale_grad_by_freq (Embedding) and with
    mode='max' (EmbeddingBag). Ember supports both, and its row-sparse gradient must equal the
    dense one, so those golden cases are made densely."""
    if kwargs.get("sparse") and (kwargs.get("scale_grad_by_freq") or kwargs.get("mode") == "max"):
        return {k: v for k, v in kwargs.items() if k != "sparse"}
    return kwargs


def make_embedding(w, dtype=torch.float32):
    for name, kwargs in EMBEDDING.items():
        case = "embedding_" + name
        table = torch.randn(V, D).to(dtype)
        emb = nn.Embedding(V, D, _weight=table.clone(), **torch_kwargs(kwargs))
        w.tensor(case, "weight", table)
        w.tensor(case, "ids", IDS)
        out = emb(IDS)
        gout = torch.randn(out.shape).to(dtype)
        out.backward(gout)
        w.tensor(case, "gout", gout)
        w.tensor(case, "out", out)
        w.tensor(case, "grad_weight", dense(emb.weight.grad))
        w.tensor(case, "weight_after", emb.weight)
    for freeze in (True, False):
        case = "from_pretrained_" + ("frozen" if freeze else "trainable")
        table = torch.randn(V, D).to(dtype)
        emb = nn.Embedding.from_pretrained(table.clone(), freeze=freeze, padding_idx=2)
        out = emb(IDS)
        gout = torch.randn(out.shape).to(dtype)
        w.tensor(case, "weight", table)
        w.tensor(case, "ids", IDS)
        w.tensor(case, "gout", gout)
        w.tensor(case, "out", out)
        if not freeze:
            out.backward(gout)
            w.tensor(case, "grad_weight", emb.weight.grad)


def make_bags(w, dtype=torch.float32):
    for name, (kwargs, ids, offsets, weighted) in BAGS.items():
        case = "bag_" + name
        table = torch.randn(V, D).to(dtype)
        bag = nn.EmbeddingBag(V, D, _weight=table.clone(), **torch_kwargs(kwargs))
        psw = torch.rand(ids.shape).to(dtype).requires_grad_(True) if weighted else None
        if kwargs.get("scale_grad_by_freq"):
            # PyTorch's CPU embedding_bag divides by the wrong index's count (pytorch/pytorch
            # issue 190063). The documented rule (divide by the id's count in the batch) is what
            # nn.Embedding computes, so the reference is the bag written as an embedding sum.
            assert kwargs["mode"] == "sum" and ids.dim() == 2 and offsets is None
            out = F.embedding(ids, bag.weight, scale_grad_by_freq=True).sum(1)
        else:
            out = bag(ids, offsets, per_sample_weights=psw)
        gout = torch.randn(out.shape).to(dtype)
        out.backward(gout)
        w.tensor(case, "weight", table)
        w.tensor(case, "ids", ids)
        if offsets is not None:
            w.tensor(case, "offsets", offsets)
        if psw is not None:
            w.tensor(case, "psw", psw)
            w.tensor(case, "grad_psw", psw.grad)
        w.tensor(case, "gout", gout)
        w.tensor(case, "out", out)
        w.tensor(case, "grad_weight", dense(bag.weight.grad))


def make_layer_norm(w, dtype=torch.float32):
    ln = nn.LayerNorm([3, 4]).to(dtype)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(3, 4))
        ln.bias.copy_(torch.randn(3, 4))
    x = torch.randn(2, 3, 4).to(dtype).requires_grad_(True)
    out = ln(x)
    gout = torch.randn(out.shape).to(dtype)
    out.backward(gout)
    for key, t in [("weight", ln.weight), ("bias", ln.bias), ("x", x), ("gout", gout),
                   ("out", out), ("grad_x", x.grad), ("grad_weight", ln.weight.grad),
                   ("grad_bias", ln.bias.grad)]:
        w.tensor("layer_norm", key, t)


def write_cases(w, dtype=torch.float32):
    """dtype: the layers, inputs and gout converted to it (make_golden_float64.py's float64)."""
    make_linear(w, dtype)
    make_embedding(w, dtype)
    make_bags(w, dtype)
    make_layer_norm(w, dtype)


def main():
    torch.manual_seed(1)
    with Writer(os.path.join(HERE, "nn.txt")) as w:
        write_cases(w)


if __name__ == "__main__":
    main()
