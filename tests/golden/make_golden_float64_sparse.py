"""Golden values of row-sparse gradients in float64 (tests/test_float64_sparse.cpp; writes
float64_sparse.txt with 17 significant digits, which round-trip a float64).

Model: a float64 Embedding(10, 4, sparse=True) -> mean over the sequence -> a frozen float64
Linear(4, 3), cross_entropy, STEPS steps on fixed batches ("data" case: ids<step>,
labels<step>; ids repeat within a batch). Made in float32 from torch.manual_seed(7) and
converted with model.double(), as a user would. Each optimizer case stores init.<param>,
grad0 (the table's first gradient, made dense) and final.emb.weight; torch.optim.SparseAdam is
Ember's Adam on a row-sparse gradient. "clip_sparse": clip_grad_norm_ over a float64
row-sparse gradient. Run with Debian's /usr/bin/python3 (torch 1.13).
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_io import Writer
from make_golden_optim import Model, batches, write_sparse_clipping

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 10

# name -> (optimizer class, kwargs, Embedding options)
CASES = {
    "sparse_sgd": (torch.optim.SGD, {"lr": 0.5}, {}),
    "sparse_adam": (torch.optim.SparseAdam, {"lr": 0.01}, {}),
    "sparse_adagrad": (torch.optim.Adagrad, {"lr": 0.5}, {}),
    "sparse_sgd_padding_max_norm": (torch.optim.SGD, {"lr": 0.5},
                                    {"padding_idx": 1, "max_norm": 1.0}),
    "sparse_adam_padding": (torch.optim.SparseAdam, {"lr": 0.01, "betas": (0.8, 0.9)},
                            {"padding_idx": 3}),
}


def run_optimizers(w, data):
    for case, (cls, kwargs, options) in CASES.items():
        torch.manual_seed(7)
        model = Model(sparse=True, **options).double()
        model.fc.requires_grad_(False)
        for name, p in model.named_parameters():
            assert p.dtype == torch.float64
            w.tensor(case, f"init.{name}", p)
        opt = cls([model.emb.weight], **kwargs)
        for step, (ids, labels) in enumerate(data):
            opt.zero_grad()
            F.cross_entropy(model(ids), labels).backward()
            grad = model.emb.weight.grad
            assert grad.is_sparse and grad.dtype == torch.float64
            if step == 0:
                w.tensor(case, "grad0", grad.to_dense())
            opt.step()
        w.tensor(case, "final.emb.weight", model.emb.weight)


def run_clipping(w):
    torch.manual_seed(11)
    write_sparse_clipping(w, nn.Embedding(6, 3, sparse=True).double())


def main():
    data = batches(STEPS)
    with Writer(os.path.join(HERE, "float64_sparse.txt"), torch.float64) as w:
        for step, (ids, labels) in enumerate(data):
            w.tensor("data", f"ids{step}", ids)
            w.tensor("data", f"labels{step}", labels)
        run_optimizers(w, data)
        run_clipping(w)


if __name__ == "__main__":
    main()
