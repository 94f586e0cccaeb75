"""Writes golden tensors in the line format read by tests/golden.hpp."""


class Writer:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.f = open(self.path, "w")
        return self

    def __exit__(self, *exc):
        self.f.close()

    def tensor(self, case, key, t):
        t = t.detach()
        shape = ",".join(str(d) for d in t.shape) or "-"
        if t.dtype in (__import__("torch").int64, __import__("torch").int32):
            values = " ".join(str(int(v)) for v in t.reshape(-1).tolist())
        else:
            values = " ".join(f"{float(v):.9g}" for v in t.reshape(-1).tolist())
        self.f.write(f"{case} {key} {shape} {values}\n")
