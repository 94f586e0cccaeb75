#!/usr/bin/python3
"""Golden values in float64 for the sequence layers and attention modules (issue 22: "golden
tests against PyTorch for every op in float64"), read by tests/test_golden_float64_seq.cpp.

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tests/golden/make_golden_float64_seq.py
Writes float64_seq.txt with 17 significant digits (a float64 round-trips). Every module and
tensor is float64 (torch.set_default_dtype), so the reference carries no float32 rounding.
Shapes are small (input 2, hidden 3, embed 4) so that the file stays near 300 KB.
- rnn_*, lstm*, gru*, cell_*: make_golden_rnn.py's layer and cell cases (its keys: cfg,
  p.<name>, x, h0, c0, lengths, gout, ghn, gcn, out, hn, cn, grad_*, g.<name>), a subset that
  covers each option, plus a few more (unbatched input, packed batch-first).
- sdpa_*: scaled_dot_product_attention with a bool mask (True = the key takes part);
  cfg = (is_causal,); q, k, v, mask (0/1), gout, out, grad_q, grad_k, grad_v.
- mha_*: MultiheadAttention; cfg = (batch_first, kdim, vdim, bias, self-attention, average,
  need_weights, kpm bool?, attn_mask bool?, unbatched, num_heads); param./grad.<name>,
  query/key/value and grad_<input>, kpm / mask (a bool one as 0/1, True = not allowed), gout,
  gweights (with need_weights), out, weights. The gradients are those of
  out·gout + weights·gweights.
- encoder_*: TransformerEncoderLayer / TransformerEncoder (dropout 0); cfg = (gelu?,
  norm_first, batch_first, layers (0: the layer alone), final norm, mask bool?, nhead); x,
  mask, kpm, param./grad.<name>, gout, out, grad_x.
"""
import math
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_golden_attention as attention  # noqa: E402
import make_golden_rnn as rnn  # noqa: E402
from golden_io import Writer, write_leaves  # noqa: E402

# The recurrent cases of make_golden_rnn.py that cover each option (tanh / relu, LSTM, GRU, 1
# and 2 layers, bidirectional, batch_first both ways, with and without an initial state, no
# bias, packed sorted and unsorted), and a few more, in its form: name -> (class, kwargs,
# batch, steps, initial state?, lengths, enforce_sorted). Every cell case.
RNN_CASES = ["rnn_tanh", "rnn_relu_h0", "rnn_bidir_2layer_batch_first",
             "rnn_relu_packed_unsorted_2layer", "lstm_h0", "gru",
             "gru_h0_nobias", "gru_bidir_2layer", "gru_packed_unsorted_bidir"]
MORE_LAYERS = {
    "lstm_bidir_2layer_batch_first_h0": (nn.LSTM, {"num_layers": 2, "bidirectional": True,
                                                   "batch_first": True}, 2, 3, True, None, True),
    "lstm_packed_unsorted_bidir_h0": (nn.LSTM, {"bidirectional": True, "batch_first": True}, 3,
                                      3, True, [2, 3, 1], False),
    "gru_packed_sorted_batch_first_h0": (nn.GRU, {"batch_first": True}, 3, 3, True, [3, 2, 1],
                                         True),
    "lstm_packed_sorted_no_state": (nn.LSTM, {}, 2, 3, False, [3, 2], True),
    # batch None: unbatched input [steps, input_size]
    "rnn_relu_unbatched_h0": (nn.RNN, {"nonlinearity": "relu"}, None, 3, True, None, True),
    "lstm_unbatched_bidir_h0": (nn.LSTM, {"bidirectional": True}, None, 3, True, None, True),
    "gru_unbatched_2layer": (nn.GRU, {"num_layers": 2}, None, 3, False, None, True),
}
SIZES = (2, 3)  # input_size, hidden_size: small, so the file stays small


def make_rnn(w):
    layers = {**{case: rnn.LAYERS[case] for case in RNN_CASES}, **MORE_LAYERS}
    for case, spec in layers.items():
        rnn.make_layer(w, case, *spec, sizes=SIZES)
    for case, spec in rnn.CELLS.items():
        rnn.make_cell(w, case, *spec, sizes=SIZES)


def sdpa_reference(q, k, v, keep, causal):
    """PyTorch 2's F.scaled_dot_product_attention with a bool mask (True = the key takes part),
    which 1.13 does not have in public."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        L, S = scores.shape[-2:]
        keep = keep & torch.ones(L, S, dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~keep, float("-inf")), -1) @ v


# name -> (q, k, v shapes, bool mask shape, is_causal); a key 0 always takes part.
SDPA = {
    "sdpa_bool_mask": ((2, 3, 2), (2, 4, 2), (2, 4, 3), (3, 4), False),
    "sdpa_bool_mask_broadcast_causal": ((2, 2, 3, 2), (2, 2, 3, 2), (2, 2, 3, 3), (2, 1, 3, 3),
                                        True),
}


def make_sdpa(w):
    for case, (sq, sk, sv, smask, causal) in SDPA.items():
        q, k, v = (torch.randn(*s).requires_grad_(True) for s in (sq, sk, sv))
        keep = torch.rand(*smask) < 0.6
        keep[..., 0] = True
        out = sdpa_reference(q, k, v, keep, causal)
        gout = torch.randn(out.shape)
        out.backward(gout)
        w.tensor(case, "cfg", torch.tensor([int(causal)]))
        write_leaves(w, case, nn.Module(), {"q": q, "k": k, "v": v})
        for name, t in [("mask", keep), ("gout", gout), ("out", out)]:
            w.tensor(case, name, t.double())


E, HEADS = 4, 2

# name -> (MultiheadAttention kwargs, L, S, N, self-attention, masks, average, unbatched,
# need_weights). masks: kpm (bool), kpm_float (additive), causal (float, -inf above the
# diagonal), mask3d (float [N * heads, L, S]), bool_mask ([L, S]), bool_mask3d.
MHA = {
    "mha_mask3d_kpm": ({}, 3, 3, 2, True, "mask3d,kpm", True, False, True),
    "mha_cross_kpm": ({}, 2, 4, 2, False, "kpm", True, False, True),
    "mha_kdim_vdim": ({"kdim": 5, "vdim": 3}, 2, 3, 2, False, "", True, False, True),
    "mha_no_bias_per_head": ({"bias": False}, 3, 3, 2, True, "", False, False, True),
    "mha_unbatched_causal": ({}, 3, 3, 1, True, "causal", True, True, True),
    "mha_bool_mask": ({}, 3, 3, 2, True, "bool_mask", True, False, True),
    "mha_bool_mask3d_kpm_per_head": ({"batch_first": True}, 2, 4, 3, False, "bool_mask3d,kpm",
                                     False, False, True),
    # PyTorch 1.13 adds a float key padding mask only when it is the only mask.
    "mha_float_kpm": ({}, 3, 3, 2, True, "kpm_float", True, False, True),
    "mha_no_weights_kpm_causal": ({}, 3, 3, 3, True, "kpm,causal", True, False, False),
    "mha_no_weights_kdim_vdim_batch_first": ({"kdim": 5, "vdim": 3, "batch_first": True}, 2, 3,
                                             2, False, "mask3d", True, False, False),
}


def bool_mask(*shape):
    """True = not allowed, never a whole row (PyTorch gives NaN there, Ember zeros)."""
    mask = torch.rand(*shape) < 0.4
    mask[..., 0] = False
    return mask


def mha_inputs(kw, L, S, N, self_attn, masks, unbatched):
    bf = kw.get("batch_first", False)

    def leaf(T, D):
        shape = (T, D) if unbatched else ((N, T, D) if bf else (T, N, D))
        return torch.randn(*shape).requires_grad_(True)

    q = leaf(L, E)
    k, v = (q, q) if self_attn else (leaf(S, kw.get("kdim", E)), leaf(S, kw.get("vdim", E)))
    kpm = mask = None
    if "kpm_float" in masks:
        kpm = torch.randn(N, S)
        kpm[0, S - 1] = float("-inf")
    elif "kpm" in masks:
        kpm = torch.zeros(N, S, dtype=torch.bool)
        kpm[0, S - 1] = True
        if N > 2:
            kpm[2, 1] = True
    if "causal" in masks:
        mask = nn.Transformer.generate_square_subsequent_mask(L)
    elif "bool_mask3d" in masks:
        mask = bool_mask(N * HEADS, L, S)
    elif "mask3d" in masks:
        mask = torch.randn(N * HEADS, L, S)
    elif "bool_mask" in masks:
        mask = bool_mask(L, S)
    return q, k, v, kpm, mask


def make_mha(w):
    for case, (kw, L, S, N, self_attn, masks, average, unbatched, need) in MHA.items():
        mha = nn.MultiheadAttention(E, HEADS, **kw)
        attention.randomize(mha)
        q, k, v, kpm, mask = mha_inputs(kw, L, S, N, self_attn, masks, unbatched)
        out, weights = mha(q, k, v, key_padding_mask=kpm, need_weights=need, attn_mask=mask,
                           average_attn_weights=average)
        assert (weights is not None) == need
        gout = torch.randn(out.shape)
        loss = (out * gout).sum()
        if need:
            gweights = torch.randn(weights.shape)
            loss = loss + (weights * gweights).sum()
        loss.backward()
        is_bool = [int(m is not None and m.dtype == torch.bool) for m in (kpm, mask)]
        w.tensor(case, "cfg", torch.tensor([int(kw.get("batch_first", False)), kw.get("kdim", 0),
                                            kw.get("vdim", 0), int(kw.get("bias", True)),
                                            int(self_attn), int(average), int(need), *is_bool,
                                            int(unbatched), HEADS]))
        inputs = {"query": q} if self_attn else {"query": q, "key": k, "value": v}
        write_leaves(w, case, mha, inputs)
        results = [("gout", gout), ("out", out), ("kpm", kpm), ("mask", mask)]
        if need:
            results += [("gweights", gweights), ("weights", weights)]
        for name, t in results:
            if t is not None:
                w.tensor(case, name, t.double())  # a bool mask as 0/1


# name -> (TransformerEncoderLayer kwargs, layers (0: the layer alone), final norm, bool mask)
ENCODERS = {
    "encoder_layer_relu_post": ({}, 0, False, False),
    "encoder_layer_gelu_pre_bf": ({"activation": "gelu", "norm_first": True,
                                   "batch_first": True}, 0, False, False),
    "encoder_layer_relu_pre_bool_mask": ({"norm_first": True}, 0, False, True),
    "encoder_2_layers_post_gelu_norm_bf": ({"activation": "gelu", "batch_first": True}, 2, True,
                                           False),
    "encoder_2_layers_pre_bool_mask": ({"norm_first": True}, 2, False, True),
}
L_ENC, N_ENC, FF = 3, 2, 6


def make_encoder(w):
    for case, (kw, layers, final_norm, mask_is_bool) in ENCODERS.items():
        layer = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FF, dropout=0.0, **kw)
        if layers:
            module = nn.TransformerEncoder(layer, layers,
                                           norm=nn.LayerNorm(E) if final_norm else None)
        else:
            module = layer
        attention.randomize(module)
        bf = kw.get("batch_first", False)
        x = torch.randn(*((N_ENC, L_ENC, E) if bf else (L_ENC, N_ENC, E))).requires_grad_(True)
        kpm = torch.zeros(N_ENC, L_ENC, dtype=torch.bool)
        kpm[1, L_ENC - 1] = True
        if mask_is_bool:
            mask = bool_mask(L_ENC, L_ENC)
        else:
            mask = nn.Transformer.generate_square_subsequent_mask(L_ENC)
        out = module(x, mask, src_key_padding_mask=kpm)
        gout = torch.randn(out.shape)
        out.backward(gout)
        w.tensor(case, "cfg", torch.tensor([int(kw.get("activation") == "gelu"),
                                            int(kw.get("norm_first", False)), int(bf), layers,
                                            int(final_norm), int(mask_is_bool), HEADS]))
        write_leaves(w, case, module, {"x": x})
        for name, t in [("mask", mask), ("kpm", kpm), ("gout", gout), ("out", out)]:
            w.tensor(case, name, t.double())  # a bool mask as 0/1


def main():
    torch.manual_seed(22)
    torch.set_default_dtype(torch.float64)
    with Writer(os.path.join(HERE, "float64_seq.txt"), torch.float64) as w:
        make_rnn(w)
        make_sdpa(w)
        make_mha(w)
        make_encoder(w)


if __name__ == "__main__":
    main()
