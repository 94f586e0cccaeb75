#!/usr/bin/python3
"""Golden values for convolution, pooling, attention and the Transformer encoder.

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tests/golden/make_golden_attention.py
Writes attention.txt (the line format of golden_io.py) and trained_*.safetensors (models
trained a few Adam steps here, loaded by Ember with a strict load_state_dict).
Keys: param.<name> / grad.<name> for parameters, x / query / key / value and grad_<input>,
kpm (key padding mask, 0/1 with 1 = padded), mask (additive float), gout, out, weights.
Dropout is 0 everywhere: values must be exact. The layer cases run in float64, so the
reference carries no float32 rounding of its own (the tests compare Ember's float32 to 1e-5);
the trained models are ordinary float32 models.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import Writer  # noqa: E402
from make_golden_io import write_safetensors  # noqa: E402


def randomize(module):
    """Non-trivial values for every parameter (zero biases and unit norms test nothing)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape) * 0.5)


def record(w, case, module, inputs, out, extra=None):
    """inputs: name -> tensor requiring grad. Backward with a random gout, write everything."""
    gout = torch.randn(out.shape)
    out.backward(gout)
    for name, p in module.named_parameters():
        w.tensor(case, "param." + name, p)
        w.tensor(case, "grad." + name, p.grad)
    for name, t in inputs.items():
        w.tensor(case, name, t)
        if t.grad is not None:
            w.tensor(case, "grad_" + name, t.grad)
    w.tensor(case, "gout", gout)
    w.tensor(case, "out", out)
    for name, t in (extra or {}).items():
        w.tensor(case, name, t.to(w.dtype))  # a bool mask as 0/1


def leaf(*shape):
    return torch.randn(*shape).requires_grad_(True)


def make_layer_norm(w):
    for case, shape, norm, affine in [("layer_norm_affine", (2, 3, 5), (5,), True),
                                      ("layer_norm_2d_plain", (3, 2, 4), (2, 4), False)]:
        ln = nn.LayerNorm(norm, elementwise_affine=affine)
        randomize(ln)
        x = leaf(*shape)
        record(w, case, ln, {"x": x}, ln(x))


def sdpa_reference(q, k, v, mask, causal):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    if causal:
        L, S = scores.shape[-2:]
        keep = torch.ones(L, S, dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, -1) @ v


def make_sdpa(w):
    mask = torch.randn(4, 6)
    mask[1, 2] = float("-inf")
    cases = {
        "sdpa_plain": ((2, 4, 3), (2, 6, 3), (2, 6, 5), None, False),
        "sdpa_mask": ((2, 4, 3), (2, 6, 3), (2, 6, 5), mask, False),
        "sdpa_mask_broadcast": ((2, 2, 4, 3), (2, 2, 6, 3), (2, 2, 6, 5), torch.randn(2, 1, 4, 6),
                                False),
        "sdpa_causal": ((2, 5, 3), (2, 5, 3), (2, 5, 4), None, True),
        "sdpa_4d_causal_mask": ((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 2), torch.randn(5, 5),
                                True),
    }
    for case, (sq, sk, sv, m, causal) in cases.items():
        q, k, v = leaf(*sq), leaf(*sk), leaf(*sv)
        out = sdpa_reference(q, k, v, m, causal)
        record(w, case, nn.Module(), {"q": q, "k": k, "v": v}, out,
               {"mask": m} if m is not None else None)


# name -> (MultiheadAttention kwargs, L, S, N, self-attention, masks, average, unbatched)
MHA = {
    "mha_self": ({}, 5, 5, 2, True, "", True, False),
    "mha_self_batch_first_kpm": ({"batch_first": True}, 5, 5, 3, True, "kpm", True, False),
    "mha_self_causal": ({}, 4, 4, 2, True, "causal", True, False),
    "mha_mask3d_kpm": ({}, 4, 4, 2, True, "mask3d,kpm", True, False),
    "mha_cross": ({}, 3, 6, 2, False, "kpm", True, False),
    "mha_kdim_vdim": ({"kdim": 5, "vdim": 3}, 3, 4, 2, False, "", True, False),
    "mha_no_bias_per_head": ({"bias": False}, 4, 4, 2, True, "", False, False),
    "mha_unbatched": ({}, 4, 4, 1, True, "causal", True, True),
}
E, H = 8, 2


def mha_inputs(kw, L, S, N, self_attn, masks, unbatched):
    bf = kw.get("batch_first", False)
    shape = (lambda T, D: (T, D)) if unbatched else (
        (lambda T, D: (N, T, D)) if bf else (lambda T, D: (T, N, D)))
    q = leaf(*shape(L, E))
    if self_attn:
        k = v = q
    else:
        k, v = leaf(*shape(S, kw.get("kdim", E))), leaf(*shape(S, kw.get("vdim", E)))
    kpm = None
    if "kpm" in masks:
        kpm = torch.zeros(N, S, dtype=torch.bool)
        kpm[0, S - 2:] = True
        if N > 2:
            kpm[2, 1] = True
    mask = None
    if "causal" in masks:
        mask = nn.Transformer.generate_square_subsequent_mask(L)
    if "mask3d" in masks:
        mask = torch.randn(N * H, L, S)
    return q, k, v, kpm, mask


def make_mha(w):
    for case, (kw, L, S, N, self_attn, masks, average, unbatched) in MHA.items():
        mha = nn.MultiheadAttention(E, H, **kw)
        randomize(mha)
        q, k, v, kpm, mask = mha_inputs(kw, L, S, N, self_attn, masks, unbatched)
        out, weights = mha(q, k, v, key_padding_mask=kpm, attn_mask=mask,
                           average_attn_weights=average)
        inputs = {"query": q} if self_attn else {"query": q, "key": k, "value": v}
        extra = {"weights": weights}
        if kpm is not None:
            extra["kpm"] = kpm
        if mask is not None:
            extra["mask"] = mask
        record(w, case, mha, inputs, out, extra)


# name -> (TransformerEncoderLayer kwargs)
LAYERS = {
    "encoder_layer_relu_post": {"activation": "relu"},
    "encoder_layer_relu_pre": {"activation": "relu", "norm_first": True},
    "encoder_layer_gelu_post_bf": {"activation": "gelu", "batch_first": True},
    "encoder_layer_gelu_pre_bf": {"activation": "gelu", "norm_first": True, "batch_first": True},
}


def encoder_inputs(bf, L=5, N=3, D=8):
    x = leaf(N, L, D) if bf else leaf(L, N, D)
    kpm = torch.zeros(N, L, dtype=torch.bool)
    kpm[1, L - 2:] = True
    return x, nn.Transformer.generate_square_subsequent_mask(L), kpm


def make_encoder(w):
    for case, kw in LAYERS.items():
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, **kw)
        randomize(layer)
        x, mask, kpm = encoder_inputs(kw.get("batch_first", False))
        out = layer(x, src_mask=mask, src_key_padding_mask=kpm)
        record(w, case, layer, {"x": x}, out, {"mask": mask, "kpm": kpm})
    for case, norm_first in [("encoder_2_layers_norm", False), ("encoder_2_layers_pre", True)]:
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0,
                                           norm_first=norm_first, batch_first=True)
        enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))
        randomize(enc)
        x, mask, kpm = encoder_inputs(True)
        out = enc(x, mask=mask, src_key_padding_mask=kpm)
        record(w, case, enc, {"x": x}, out, {"mask": mask, "kpm": kpm})


def sinusoidal(max_len, d):
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


def make_positional(w):
    w.tensor("positional", "pe", sinusoidal(50, 6))


# name -> Conv1d kwargs (in 4, out 6, kernel 3 unless given), input length
CONV = {
    "conv_plain": ({}, 9),
    "conv_stride_pad": ({"stride": 2, "padding": 1}, 9),
    "conv_dilation": ({"dilation": 2, "padding": 2}, 9),
    "conv_groups": ({"groups": 2, "stride": 2}, 8),
    "conv_same_even_kernel": ({"padding": "same", "kernel_size": 4}, 7),
    "conv_same_dilation": ({"padding": "same", "dilation": 2, "groups": 2}, 7),
    "conv_no_bias": ({"bias": False, "kernel_size": 1}, 5),
    "conv_unbatched": ({"padding": 1}, 6),
}


def make_conv(w):
    for case, (kw, length) in CONV.items():
        kw = dict(kw)
        k = kw.pop("kernel_size", 3)
        conv = nn.Conv1d(4, 6, k, **kw)
        x = leaf(4, length) if case == "conv_unbatched" else leaf(2, 4, length)
        record(w, case, conv, {"x": x}, conv(x))


# name -> (function, input shape)
POOL = {
    "maxpool_k3_s2_p1": (nn.MaxPool1d(3, 2, 1), (2, 3, 9)),
    "maxpool_k2_default_stride": (nn.MaxPool1d(2), (2, 3, 9)),
    "maxpool_dilation_ceil": (nn.MaxPool1d(2, 2, 0, dilation=2, ceil_mode=True), (2, 3, 8)),
    "avgpool_k3_s2_p1": (nn.AvgPool1d(3, 2, 1), (2, 3, 9)),
    "avgpool_no_pad_count": (nn.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 9)),
    "avgpool_ceil": (nn.AvgPool1d(3, 2, 0, ceil_mode=True), (2, 3, 8)),
    "adaptive_max_7_to_3": (nn.AdaptiveMaxPool1d(3), (2, 3, 7)),
    "adaptive_avg_7_to_3": (nn.AdaptiveAvgPool1d(3), (2, 3, 7)),
    "adaptive_avg_10_to_4_unbatched": (nn.AdaptiveAvgPool1d(4), (3, 10)),
}


def make_pool(w):
    for case, (pool, shape) in POOL.items():
        x = leaf(*shape)
        record(w, case, pool, {"x": x}, pool(x))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, padding="same")
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).squeeze(-1))


def train_and_save(w, name, model, make_input):
    """A few Adam steps on a fixed regression target, then the state_dict as safetensors and
    the trained model's output on a fresh input."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = make_input()
    target = torch.randn(model(x).shape)
    for _ in range(5):
        opt.zero_grad()
        F.mse_loss(model(x), target).backward()
        opt.step()
    model.eval()
    x = make_input()
    with torch.enable_grad():  # keeps 1.13's fused inference path (different numerics) off
        out = model(x.requires_grad_(True))
    write_safetensors(os.path.join(HERE, f"trained_{name}.safetensors"), model.state_dict(),
                      {"source": "torch 1.13 make_golden_attention.py"})
    w.tensor("trained_" + name, "x", x)
    w.tensor("trained_" + name, "out", out)


class MhaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True, kdim=5, vdim=3)

    def forward(self, x):
        return self.attn(x[..., :8], x[..., 8:13], x[..., 13:16], need_weights=False)[0]


def make_trained(w):
    train_and_save(w, "mha", MhaNet(), lambda: torch.randn(2, 4, 16))
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, activation="gelu",
                                       batch_first=True, norm_first=True)
    train_and_save(w, "encoder", nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8)),
                   lambda: torch.randn(3, 5, 8))
    train_and_save(w, "conv", ConvNet(), lambda: torch.randn(3, 4, 10))


class BertEncoder(nn.Module):
    """examples/bert_encoder.cpp's model: BERT's embedding block, then a post-norm GELU
    TransformerEncoder that ignores padded positions."""

    def __init__(self, vocab, hidden, heads, layers, intermediate, max_positions):
        super().__init__()
        from make_golden_bert import BertEmbeddings
        self.embeddings = BertEmbeddings(vocab, hidden, 0, max_positions, 2, 1e-12, 0.1)
        layer = nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=intermediate,
                                           dropout=0.1, activation="gelu", layer_norm_eps=1e-12,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)

    def forward(self, input_ids, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        return self.encoder(x, src_key_padding_mask=input_ids == 0)


def make_bert_encoder():
    """bert_encoder.safetensors: the model's state_dict as PyTorch has it;
    bert_encoder_io.safetensors: the example's inputs and PyTorch's output."""
    torch.manual_seed(12)
    model = BertEncoder(100, 32, 4, 2, 64, 32)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower():
                p.add_(torch.randn(p.shape) * 0.1)
    model.eval()
    input_ids = torch.tensor([[2, 45, 17, 9, 3, 0, 0], [2, 8, 99, 61, 23, 11, 3]])
    token_type_ids = torch.tensor([[0, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1]])
    with torch.enable_grad():  # keeps 1.13's fused inference path (different numerics) off
        out = model(input_ids, token_type_ids)
    write_safetensors(os.path.join(HERE, "bert_encoder.safetensors"), model.state_dict(),
                      {"source": "torch 1.13 make_golden_attention.py"})
    write_safetensors(os.path.join(HERE, "bert_encoder_io.safetensors"),
                      {"input_ids": input_ids, "token_type_ids": token_type_ids,
                       "output": out.detach()}, {})


def main():
    torch.manual_seed(11)
    torch.set_default_dtype(torch.float64)
    with Writer(os.path.join(HERE, "attention.txt")) as w:
        make_layer_norm(w)
        make_sdpa(w)
        make_mha(w)
        make_encoder(w)
        make_positional(w)
        make_conv(w)
        make_pool(w)
        torch.set_default_dtype(torch.float32)
        make_trained(w)
    make_bert_encoder()


if __name__ == "__main__":
    main()
