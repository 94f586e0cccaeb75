#!/usr/bin/python3
"""Golden values for int8 dynamic quantization (writes quantized.txt).

Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_golden_quantized.py
Debian's torch 1.13 has the 'onednn' and 'qnnpack' engines (no fbgemm); this uses onednn, the
default there. Models are quantized with torch.ao.quantization.quantize_dynamic and
per_channel_dynamic_qconfig (per-output-channel symmetric qint8 weights, as Ember's); PyTorch
quantizes inputs on 7 bits (reduce_range=True), which Ember's tests ask for too. PyTorch's
dynamic LSTM refuses bias=False and unbatched input (Ember's take both: tested against the float
LSTM and the batch-of-one output instead).
Keys per Linear case: w, b (float parameters), x, out (the quantized module's output), wq / ws
(PyTorch's int8 weight and per-channel scales). Per LSTM case: cfg (num_layers, bias,
batch_first, bidirectional, packed, enforce_sorted), p.<name> the float parameters, x, h0, c0,
lengths (packed cases), out, hn, cn. Packed outputs are written padded (pad_packed_sequence).
"""
import os
import sys

import torch
import torch.nn as nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import Writer  # noqa: E402

assert "onednn" in torch.backends.quantized.supported_engines, "needs the onednn engine"
torch.backends.quantized.engine = "onednn"
QCONFIG = {nn.Linear: per_channel_dynamic_qconfig, nn.LSTM: per_channel_dynamic_qconfig}


class Holder(nn.Module):
    # quantize_dynamic swaps children, never the module it is given
    def __init__(self, layer):
        super().__init__()
        self.layer = layer


# name -> (in, out, bias, input shape, input maker)
LINEARS = {
    "linear": (64, 32, True, (16, 64), lambda s: torch.randn(s) * 2 + 0.5),
    "linear_3d_nobias": (20, 7, False, (2, 5, 20), lambda s: torch.randn(s)),
    "linear_nonnegative": (48, 24, True, (8, 48), lambda s: torch.rand(s) * 3),
    "linear_negative": (16, 5, True, (3, 16), lambda s: -torch.rand(s)),
    "linear_zero_input": (8, 4, True, (2, 8), lambda s: torch.zeros(s)),
    "linear_wide": (256, 40, True, (17, 256), lambda s: torch.randn(s) * 0.1),
}

# name -> (kwargs, input size, hidden, batch, steps, initial state?, lengths, enforce_sorted)
LSTMS = {
    "lstm": ({}, 8, 6, 3, 5, False, None, True),
    "lstm_h0": ({}, 8, 6, 2, 4, True, None, True),
    "lstm_bidir_2layer_batch_first": ({"num_layers": 2, "bidirectional": True,
                                       "batch_first": True}, 6, 5, 3, 4, True, None, True),
    "lstm_packed_sorted": ({}, 6, 4, 3, 4, False, [4, 2, 2], True),
    "lstm_packed_unsorted_bidir_2layer": ({"num_layers": 2, "bidirectional": True,
                                           "batch_first": True}, 5, 4, 4, 5, True,
                                          [2, 5, 3, 4], False),
}


def main():
    torch.manual_seed(22)
    with Writer(os.path.join(HERE, "quantized.txt")) as w:
        for name, (i, o, bias, shape, make) in LINEARS.items():
            lin = nn.Linear(i, o, bias=bias)
            q = quantize_dynamic(Holder(lin), QCONFIG).layer
            x = make(shape)
            w.tensor(name, "w", lin.weight)
            if bias:
                w.tensor(name, "b", lin.bias)
            w.tensor(name, "x", x)
            w.tensor(name, "out", q(x))
            wq = q._packed_params._weight_bias()[0]
            w.tensor(name, "wq", wq.int_repr().to(torch.int64))
            w.tensor(name, "ws", wq.q_per_channel_scales().float())
        for name, (kw, i, h, b, t, state, lengths, enforce) in LSTMS.items():
            lstm = nn.LSTM(i, h, **kw)
            q = quantize_dynamic(Holder(lstm), QCONFIG).layer
            assert type(q).__name__ == "LSTM" and q._get_name() == "DynamicQuantizedLSTM"
            layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
            bf = kw.get("batch_first", False)
            shape = (t, i) if b is None else ((b, t, i) if bf else (t, b, i))
            x = torch.randn(shape)
            hshape = (layers, h) if b is None else (layers, b, h)
            hx = (torch.randn(hshape) * 0.5, torch.randn(hshape) * 0.5) if state else None
            w.tensor(name, "cfg", torch.tensor([kw.get("num_layers", 1), kw.get("bias", True),
                                                bf, kw.get("bidirectional", False),
                                                lengths is not None, enforce],
                                               dtype=torch.int64))
            for pname, p in lstm.named_parameters():
                w.tensor(name, "p." + pname, p)
            w.tensor(name, "x", x)
            if hx is not None:
                w.tensor(name, "h0", hx[0])
                w.tensor(name, "c0", hx[1])
            if lengths is not None:
                w.tensor(name, "lengths", torch.tensor(lengths, dtype=torch.int64))
                packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=bf,
                                              enforce_sorted=enforce)
                out, (hn, cn) = q(packed, hx)
                out = pad_packed_sequence(out, batch_first=bf)[0]
            else:
                out, (hn, cn) = q(x, hx)
            w.tensor(name, "out", out)
            w.tensor(name, "hn", hn)
            w.tensor(name, "cn", cn)


if __name__ == "__main__":
    main()
