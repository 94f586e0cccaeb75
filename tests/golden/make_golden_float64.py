#!/usr/bin/python3
"""Golden values in float64 for the op tables of the float32 golden files (issue 22: "golden
tests against PyTorch for every op in float64"), read by tests/test_golden_float64.cpp.

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tests/golden/make_golden_float64.py
Writes, with 17 significant digits (a float64 round-trips):
  float64_ops.txt            make_golden.py's OPS
  float64_ops_more.txt       make_golden_ops_more.py's cases
  float64_noncontiguous.txt  make_golden_noncontiguous.py's OPS x VIEWS
  float64_nn.txt             make_golden_nn.py's Linear, Embedding, EmbeddingBag and LayerNorm
                             cases (checked through Ember's functional ops)
  float64_attention.txt      make_golden_attention.py's op-level cases: layer_norm, sdpa, conv1d,
                             the poolings (the modules in float64: make_golden_float64_seq.py)
The generators run with their own seeds and draw the same numbers in the same order; only the
float inputs, parameters and gout are converted to float64 before the op runs. So the first four
files' inputs are the float32 files' inputs widened (checked below, value by value), and
float64_attention.txt's are the float64 numbers that attention.txt holds rounded to 9 digits.
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_golden  # noqa: E402  (draws its OPS inputs under seed 0 as it loads)
import make_golden_attention  # noqa: E402
import make_golden_nn  # noqa: E402
import make_golden_noncontiguous  # noqa: E402
import make_golden_ops_more  # noqa: E402
from golden_io import Writer  # noqa: E402

# The op-level cases of attention.txt, by name prefix.
ATTENTION_OPS = ("layer_norm_", "sdpa_", "conv_", "maxpool_", "avgpool_", "adaptive_")


class OnlyCases(Writer):
    """A writer that keeps only the cases whose names start with one of `prefixes`."""

    def __init__(self, path, dtype, prefixes):
        super().__init__(path, dtype)
        self.prefixes = prefixes

    def tensor(self, case, key, t):
        if case.startswith(self.prefixes):
            super().tensor(case, key, t)


def path(name):
    return os.path.join(HERE, name)


# file -> (the generator's seed, its writer of the cases given a dtype), as each main runs them
WIDENED = {
    "float64_ops.txt": (0, make_golden.make_ops),
    "float64_ops_more.txt": (10, make_golden_ops_more.write_cases),
    "float64_noncontiguous.txt": (12, make_golden_noncontiguous.write_cases),
    "float64_nn.txt": (1, make_golden_nn.write_cases),
}


def make_attention():
    # make_golden_attention.main's order up to the poolings: the module cases in between
    # still run, so the random streams stay those of attention.txt.
    a = make_golden_attention
    torch.manual_seed(11)
    torch.set_default_dtype(torch.float64)
    try:
        with OnlyCases(path("float64_attention.txt"), torch.float64, ATTENTION_OPS) as w:
            for make in (a.make_layer_norm, a.make_sdpa, a.make_mha, a.make_encoder,
                         a.make_positional, a.make_conv, a.make_pool):
                make(w)
    finally:
        torch.set_default_dtype(torch.float32)


def read(name):
    """case -> key -> list of values, from a golden file."""
    cases = {}
    with open(path(name)) as f:
        for line in f:
            case, key, _shape, *values = line.split()
            cases.setdefault(case, {})[key] = [float(v) for v in values]
    return cases


def is_input(key):
    """What a generator drew (inputs, parameters, gout), not what PyTorch computed."""
    inputs = ("gout", "weight", "bias", "psw", "ids", "offsets")
    return key.startswith(("x", "idx")) and key != "idxout" or key in inputs


def check_widened(name64):
    """Every input of the float64 file, rounded to float32, is the float32 file's input."""
    name32 = name64[len("float64_"):]
    f32, f64 = read(name32), read(name64)
    assert f32.keys() == f64.keys(), (name32, set(f32) ^ set(f64))
    for case, keys in f32.items():
        for key, want in keys.items():
            if is_input(key):
                got = torch.tensor(f64[case][key], dtype=torch.float64).float()
                assert torch.equal(got, torch.tensor(want)), f"{name64} {case} {key} not widened"


def main():
    for name, (seed, write_cases) in WIDENED.items():
        torch.manual_seed(seed)
        with Writer(path(name), torch.float64) as w:
            write_cases(w, torch.float64)
        check_widened(name)
    make_attention()


if __name__ == "__main__":
    main()
