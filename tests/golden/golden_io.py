"""Writes golden tensors in the line format read by tests/golden.hpp."""
import torch


class Writer:
    """dtype: the precision of the file, torch.float32 (9 significant digits, which round-trip
    a float32) or torch.float64 (17, which round-trip a float64: make_golden_float64.py)."""

    def __init__(self, path, dtype=None):
        self.path = path
        self.dtype = dtype or torch.float32
        self.digits = 17 if self.dtype == torch.float64 else 9

    def __enter__(self):
        self.f = open(self.path, "w")
        return self

    def __exit__(self, *exc):
        self.f.close()

    def tensor(self, case, key, t):
        t = t.detach()
        shape = ",".join(str(d) for d in t.shape) or "-"
        if t.dtype in (torch.int64, torch.int32):
            values = " ".join(str(int(v)) for v in t.reshape(-1).tolist())
        else:
            values = " ".join(f"{float(v):.{self.digits}g}" for v in t.reshape(-1).tolist())
        self.f.write(f"{case} {key} {shape} {values}\n")


def write_leaves(w, case, module, inputs):
    """Each parameter of `module` and its gradient (param.<name>, grad.<name>), then each input
    and its gradient (<name>, grad_<name>), after a backward."""
    for name, p in module.named_parameters():
        w.tensor(case, "param." + name, p)
        w.tensor(case, "grad." + name, p.grad)
    for name, t in inputs.items():
        w.tensor(case, name, t)
        w.tensor(case, "grad_" + name, t.grad)
