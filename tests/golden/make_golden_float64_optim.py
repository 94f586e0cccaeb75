"""Golden trajectories of a float64 model (tests/test_float64_modules.cpp; writes
float64_optim.txt with 17 significant digits, which round-trip a float64).

Model: Linear(4, 8) -> ReLU -> Linear(8, 3), made in float32 from torch.manual_seed(3) and
converted with model.double(), as a user would; mse_loss against a float64 target, STEPS steps
on one fixed float64 batch ("data" case: x, target). Each case stores loss<step> (before the
step) and final.<param>; "init" holds the converted parameters (float32 values, widened).
Run with Debian's /usr/bin/python3 (torch 1.13).
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 5

# name -> (optimizer class, kwargs, clip_grad_norm_'s max_norm or None, StepLR kwargs or None)
CASES = {
    "sgd": (torch.optim.SGD, {"lr": 0.1}, None, None),
    "sgd_momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}, None, None),
    "sgd_nesterov_weight_decay": (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                                    "weight_decay": 0.01}, None, None),
    "sgd_clip_norm": (torch.optim.SGD, {"lr": 0.1}, 0.5, None),
    "adam": (torch.optim.Adam, {"lr": 0.01}, None, None),
    "adam_amsgrad_weight_decay": (torch.optim.Adam, {"lr": 0.01, "amsgrad": True,
                                                     "weight_decay": 0.1}, None, None),
    "adam_step_lr": (torch.optim.Adam, {"lr": 0.02}, None, {"step_size": 2, "gamma": 0.5}),
    "adamw": (torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}, None, None),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "centered": True,
                                      "momentum": 0.5, "weight_decay": 0.01}, None, None),
    "adagrad": (torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                                      "initial_accumulator_value": 0.5}, None, None),
}


def make_model():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    return model.double()


def main():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    target = torch.randn(6, 3, generator=g, dtype=torch.float64)
    with Writer(os.path.join(HERE, "float64_optim.txt"), torch.float64) as w:
        w.tensor("data", "x", x)
        w.tensor("data", "target", target)
        for name, p in make_model().named_parameters():
            assert p.dtype == torch.float64
            w.tensor("init", name, p)
        for case, (cls, kwargs, max_norm, step_lr) in CASES.items():
            model = make_model()
            opt = cls(model.parameters(), **kwargs)
            sched = torch.optim.lr_scheduler.StepLR(opt, **step_lr) if step_lr else None
            for step in range(STEPS):
                opt.zero_grad()
                loss = F.mse_loss(model(x), target)
                loss.backward()
                w.tensor(case, f"loss{step}", loss)
                if max_norm is not None:
                    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
                    w.tensor(case, f"total_norm{step}", total)
                opt.step()
                if sched:
                    sched.step()
            for name, p in model.named_parameters():
                w.tensor(case, f"final.{name}", p)


if __name__ == "__main__":
    main()
