"""Golden values for dtypes (tests/test_dtypes.cpp): float32 -> bfloat16 rounding, and the
PyTorch mask idioms ported literally (bool masks in MultiheadAttention, masked_fill, where,
key_padding_mask = ids == pad, and scaled_dot_product_attention's bool mask as PyTorch 2 reads
it). Writes dtypes.txt in the format of ops.txt. Run with PyTorch 1.13:
    /usr/bin/python3 tests/golden/make_golden_dtypes.py
"""
import math
import os

import torch
import torch.nn as nn

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))


def bf16_cases(w):
    """float32 values (ties, subnormals, NaN, inf, extremes) and their bfloat16 bits and values."""
    bits = [0x3F808000, 0x3F818000, 0x3F80FFFF, 0x3F808001, 0x7F7FFFFF, 0xFF7FFFFF, 0x00000001,
            0x807FFFFF, 0x00010000, 0x7F800000, 0xFF800000, 0x80000000, 0x7FC00001, 0xFFFFFFFF,
            0x3EAAAAAB, 0xC0490FDB]
    x = torch.tensor(bits, dtype=torch.int64).to(torch.int32).view(torch.float32)
    x = torch.cat([x, torch.randn(48) * 10])
    b = x.to(torch.bfloat16)
    w.tensor("bf16", "x_bits", x.view(torch.int32).to(torch.int64) & 0xFFFFFFFF)
    w.tensor("bf16", "bits", b.view(torch.int16).to(torch.int64) & 0xFFFF)
    w.tensor("bf16", "back", b.to(torch.float32))
    d = torch.tensor([0.1, 1.0 / 3.0, 1e-40, 3.4e38, 1e39, -2.5], dtype=torch.float64)
    w.tensor("f64_to_bf16", "x", d.to(torch.float32))  # what Ember can read from the file
    w.tensor("f64_to_bf16", "bits", d.to(torch.bfloat16).view(torch.int16).to(torch.int64) & 0xFFFF)


def write_mha(w, case, mha):
    for name, p in mha.state_dict().items():
        w.tensor(case, "param." + name, p)


def mha_causal(w):
    """A causal mask written the PyTorch way (bool triu) and as the float form: same output."""
    E, H, T, N = 8, 2, 5, 3
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    write_mha(w, "mha_causal", mha)
    x = torch.randn(N, T, E, requires_grad=True)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    out, weights = mha(x, x, x, attn_mask=mask)
    g = torch.randn(out.shape)
    out.backward(g)
    w.tensor("mha_causal", "x", x)
    w.tensor("mha_causal", "gout", g)
    w.tensor("mha_causal", "out", out)
    w.tensor("mha_causal", "weights", weights)
    w.tensor("mha_causal", "gx", x.grad)


def mha_padding(w):
    """key_padding_mask = ids == pad (bool), and a float key_padding_mask, added as 1.13 does."""
    E, H, T, N, pad = 8, 2, 6, 3, 1
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    write_mha(w, "mha_padding", mha)
    ids = torch.tensor([[5, 7, 2, 9, 1, 1], [3, 4, 1, 1, 1, 1], [8, 8, 8, 8, 8, 6]])
    x = torch.randn(N, T, E, requires_grad=True)
    out, _ = mha(x, x, x, key_padding_mask=ids == pad)
    g = torch.randn(out.shape)
    out.backward(g)
    w.tensor("mha_padding", "ids", ids)
    w.tensor("mha_padding", "x", x)
    w.tensor("mha_padding", "gout", g)
    w.tensor("mha_padding", "out", out)
    w.tensor("mha_padding", "gx", x.grad)
    additive = torch.randn(N, T)
    out_float, _ = mha(x, x, x, key_padding_mask=additive)
    w.tensor("mha_padding", "float_mask", additive)
    w.tensor("mha_padding", "out_float", out_float)


def masked_fill_softmax(w):
    """scores.masked_fill(mask, -inf).softmax(-1), the mask broadcast over rows."""
    x = torch.randn(2, 3, 5, requires_grad=True)
    mask = torch.tensor([[False, False, True, False, True]]).expand(3, 5)
    mask = torch.stack([mask, torch.tensor([[True, False, False, False, False]]).expand(3, 5)])
    mask = mask[:, :1, :]  # [2, 1, 5]: broadcast over the 3 rows
    y = x.masked_fill(mask, float("-inf")).softmax(-1)
    g = torch.randn(y.shape)
    y.backward(g)
    w.tensor("masked_fill", "x", x)
    w.tensor("masked_fill", "mask", mask)
    w.tensor("masked_fill", "gout", g)
    w.tensor("masked_fill", "y", y)
    w.tensor("masked_fill", "gx", x.grad)


def where_case(w):
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    mask = a.detach() > 0
    y = torch.where(mask, a, b)
    g = torch.randn(y.shape)
    y.backward(g)
    w.tensor("where", "a", a)
    w.tensor("where", "b", b)
    w.tensor("where", "gout", g)
    w.tensor("where", "y", y)
    w.tensor("where", "ga", a.grad)
    w.tensor("where", "gb", b.grad)


def sdpa_bool(w):
    """PyTorch 2's F.scaled_dot_product_attention with a bool mask (True = takes part), written
    out for 1.13: scores.masked_fill(~mask, -inf).softmax(-1) @ v."""
    q = torch.randn(2, 2, 4, 3, requires_grad=True)
    k = torch.randn(2, 2, 5, 3, requires_grad=True)
    v = torch.randn(2, 2, 5, 3, requires_grad=True)
    mask = torch.rand(4, 5) > 0.4
    mask[:, 0] = True  # every query keeps a key
    scores = q @ k.transpose(-2, -1) / math.sqrt(3)
    y = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
    g = torch.randn(y.shape)
    y.backward(g)
    for name, t in [("q", q), ("k", k), ("v", v), ("mask", mask), ("gout", g), ("y", y),
                    ("gq", q.grad), ("gk", k.grad), ("gv", v.grad)]:
        w.tensor("sdpa_bool", name, t)


def autocast_linear(w):
    """F.linear under CPU bfloat16 autocast: a bfloat16 output (Ember's is float32, the same
    products before that rounding), and float32 gradients."""
    x = torch.randn(6, 40, requires_grad=True)
    weight = torch.randn(24, 40, requires_grad=True)
    bias = torch.randn(24, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = torch.nn.functional.linear(x, weight, bias)
    assert y.dtype == torch.bfloat16
    g = torch.randn(y.shape)
    y.float().backward(g)
    for name, t in [("x", x), ("weight", weight), ("bias", bias), ("gout", g), ("y", y.float()),
                    ("gx", x.grad), ("gweight", weight.grad), ("gbias", bias.grad)]:
        w.tensor("autocast_linear", name, t)


def main():
    torch.manual_seed(22)
    with Writer(os.path.join(HERE, "dtypes.txt")) as w:
        bf16_cases(w)
        mha_causal(w)
        mha_padding(w)
        masked_fill_softmax(w)
        where_case(w)
        sdpa_bool(w)
        autocast_linear(w)


if __name__ == "__main__":
    main()
