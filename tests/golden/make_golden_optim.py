"""Golden trajectories for the optimizers, schedulers and clipping (called by make_golden.py;
writes optim.txt).

Model: Embedding(10, 4) -> mean over the sequence -> Linear(4, 3), cross_entropy, 20 steps on
fixed batches ("data" case: ids<step>, labels<step>). Each case stores init.<param> and
final.<param>. Sparse cases use Embedding(sparse=True) and optimise the table only.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 20

# name -> (optimizer class, kwargs, lr of group 1 when two groups are used, else None)
DENSE = {
    "sgd": (torch.optim.SGD, {"lr": 0.1}, None),
    "sgd_momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}, None),
    "sgd_dampening": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}, None),
    "sgd_nesterov": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, None),
    "sgd_weight_decay": (torch.optim.SGD, {"lr": 0.1, "weight_decay": 0.01}, None),
    "sgd_groups": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.5}, 0.02),
    "adam": (torch.optim.Adam, {"lr": 0.01}, None),
    "adam_weight_decay": (torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}, None),
    "adam_amsgrad": (torch.optim.Adam, {"lr": 0.01, "amsgrad": True}, None),
    "adam_betas_eps": (torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6}, None),
    "adam_groups": (torch.optim.Adam, {"lr": 0.01}, 0.05),
    "adamw": (torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}, None),
    "adamw_amsgrad": (torch.optim.AdamW, {"lr": 0.01, "amsgrad": True}, None),
    "adamw_groups": (torch.optim.AdamW, {"lr": 0.01}, 0.003),
    "adagrad": (torch.optim.Adagrad, {"lr": 0.1}, None),
    "adagrad_lr_decay": (torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01}, None),
    "adagrad_weight_decay": (torch.optim.Adagrad, {"lr": 0.1, "weight_decay": 0.1}, None),
    "adagrad_init_eps": (torch.optim.Adagrad,
                         {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-8}, None),
    "adagrad_groups": (torch.optim.Adagrad, {"lr": 0.1}, 0.5),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.01}, None),
    "rmsprop_momentum": (torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.9}, None),
    "rmsprop_centered": (torch.optim.RMSprop, {"lr": 0.01, "centered": True}, None),
    "rmsprop_weight_decay": (torch.optim.RMSprop, {"lr": 0.01, "weight_decay": 0.1}, None),
    "rmsprop_all": (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6,
                                          "centered": True, "momentum": 0.5}, None),
    "rmsprop_groups": (torch.optim.RMSprop, {"lr": 0.01}, 0.001),
}

SPARSE = {
    "sparse_adam": (torch.optim.SparseAdam, {"lr": 0.01}),
    "sparse_sgd": (torch.optim.SGD, {"lr": 0.5}),
    "sparse_adagrad": (torch.optim.Adagrad, {"lr": 0.5}),
}


class Model(nn.Module):
    def __init__(self, sparse=False, **options):
        super().__init__()
        self.emb = nn.Embedding(10, 4, sparse=sparse, **options)
        self.fc = nn.Linear(4, 3)

    def forward(self, ids):
        return self.fc(self.emb(ids).mean(1))


def batches(steps=STEPS):
    g = torch.Generator().manual_seed(5)
    return [(torch.randint(0, 10, (4, 5), generator=g), torch.randint(0, 3, (4,), generator=g))
            for _ in range(steps)]


def write_params(w, case, prefix, model):
    for name, p in model.named_parameters():
        w.tensor(case, f"{prefix}.{name}", p)


def run_dense(w, data):
    for case, (cls, kwargs, group1_lr) in DENSE.items():
        torch.manual_seed(7)
        model = Model()
        write_params(w, case, "init", model)
        if group1_lr is None:
            opt = cls(model.parameters(), **kwargs)
        else:
            opt = cls([{"params": model.emb.parameters()},
                       {"params": model.fc.parameters(), "lr": group1_lr}], **kwargs)
        for ids, labels in data:
            opt.zero_grad()
            F.cross_entropy(model(ids), labels).backward()
            opt.step()
        write_params(w, case, "final", model)


def run_sparse(w, data):
    for case, (cls, kwargs) in SPARSE.items():
        torch.manual_seed(7)
        model = Model(sparse=True)
        model.fc.requires_grad_(False)
        write_params(w, case, "init", model)
        opt = cls([model.emb.weight], **kwargs)
        for ids, labels in data:
            opt.zero_grad()
            F.cross_entropy(model(ids), labels).backward()
            opt.step()
        write_params(w, case, "final", model)


def run_schedulers(w):
    def lrs(make, metrics=None):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = make(opt)
        out = []
        for step in range(50):
            opt.step()
            if metrics is None:
                sched.step()
            else:
                sched.step(metrics[step])
            out.append(opt.param_groups[0]["lr"])
        return torch.tensor(out, dtype=torch.float64)

    S = torch.optim.lr_scheduler
    plateau_metric = [1.0 / (1 + i) if i < 10 else 0.1 + 0.001 * (i % 3) for i in range(50)]
    cases = {
        "step_lr": lambda o: S.StepLR(o, step_size=7, gamma=0.5),
        "multi_step_lr": lambda o: S.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
        "exponential_lr": lambda o: S.ExponentialLR(o, gamma=0.95),
        "cosine_annealing_lr": lambda o: S.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
        "linear_lr": lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8),
    }
    for name, make in cases.items():
        w.tensor("schedulers", name, lrs(make))
    w.tensor("schedulers", "plateau_metric", torch.tensor(plateau_metric, dtype=torch.float64))
    w.tensor("schedulers", "reduce_lr_on_plateau",
             lrs(lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=3, cooldown=2,
                                               min_lr=0.004), plateau_metric))


def run_clipping(w):
    torch.manual_seed(11)
    for norm_type in (2.0, 1.0, math.inf):
        tag = "inf" if norm_type == math.inf else str(int(norm_type))
        a = torch.randn(3, 4, requires_grad=True)
        b = torch.randn(5, requires_grad=True)
        (a.sin().sum() * 3 + (b * b).sum()).backward()
        w.tensor("clip", f"a_grad_{tag}", a.grad)
        w.tensor("clip", f"b_grad_{tag}", b.grad)
        total = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.5, norm_type=norm_type)
        w.tensor("clip", f"total_{tag}", total)
        w.tensor("clip", f"a_clipped_{tag}", a.grad)
        w.tensor("clip", f"b_clipped_{tag}", b.grad)
    write_sparse_clipping(w, nn.Embedding(6, 3, sparse=True))


def write_sparse_clipping(w, emb):
    """The "clip_sparse" case: clip_grad_norm_ over emb's row-sparse gradient (emb: an
    Embedding(6, 3, sparse=True), float32 here, float64 in make_golden_float64_sparse.py)."""
    ids = torch.tensor([1, 4, 4, 0])
    w.tensor("clip_sparse", "weight", emb.weight)
    w.tensor("clip_sparse", "ids", ids)
    (emb(ids) * torch.arange(12.0, dtype=emb.weight.dtype).reshape(4, 3)).sum().backward()
    assert emb.weight.grad.dtype == emb.weight.dtype
    total = torch.nn.utils.clip_grad_norm_([emb.weight], max_norm=2.0)
    w.tensor("clip_sparse", "total", total)
    # PyTorch 1.13 computes the norm of a sparse gradient but its in-place scaling does not reach
    # the gradient (grad.detach().mul_ on a sparse tensor); the clipped values are therefore
    # those of the same gradient made dense, which PyTorch does scale.
    dense = emb.weight.grad.to_dense().clone()
    holder = nn.Parameter(torch.zeros_like(dense))
    holder.grad = dense
    assert torch.allclose(torch.nn.utils.clip_grad_norm_([holder], max_norm=2.0), total)
    w.tensor("clip_sparse", "clipped", holder.grad)


def main():
    data = batches()
    with Writer(os.path.join(HERE, "optim.txt")) as w:
        for step, (ids, labels) in enumerate(data):
            w.tensor("data", f"ids{step}", ids)
            w.tensor("data", f"labels{step}", labels)
        run_dense(w, data)
        run_sparse(w, data)
        run_schedulers(w)
        run_clipping(w)


if __name__ == "__main__":
    main()
