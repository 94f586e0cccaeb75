#!/usr/bin/python3
"""Golden values for the recurrent layers (writes rnn.txt and rnn_*.safetensors).

Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_golden_rnn.py
Keys per case: cfg (kind 0 tanh / 1 relu / 2 LSTM / 3 GRU, num_layers, bias,
batch_first, dropout, bidirectional, enforce_sorted), p.<name> the parameters, x the input, h0 / c0 the initial state, gout / ghn /
gcn the upstream gradients of output / h_n / c_n, lengths (packed cases), out / hn / cn the
results, grad_x / grad_h0 / grad_c0 and g.<name> the gradients of
sum(out * gout) + sum(h_n * ghn) + sum(c_n * gcn).
Trained models: model_<kind>.safetensors (a recurrent layer "rnn" and a Linear "fc" trained
a few Adam steps) with rnn.txt case model_<kind> holding x and the model's output.
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import Writer  # noqa: E402
from make_golden_io import write_safetensors  # noqa: E402

I, H = 3, 4

# name -> (class, kwargs, batch, steps, initial state?, lengths or None, enforce_sorted)
LAYERS = {
    "rnn_tanh": (nn.RNN, {}, 2, 5, False, None, True),
    "rnn_relu_h0": (nn.RNN, {"nonlinearity": "relu"}, 3, 4, True, None, True),
    "rnn_bidir_2layer_batch_first": (nn.RNN, {"num_layers": 2, "bidirectional": True,
                                              "batch_first": True}, 2, 4, True, None, True),
    "rnn_nobias": (nn.RNN, {"bias": False}, 2, 3, False, None, True),
    "rnn_packed_sorted": (nn.RNN, {}, 3, 4, False, [4, 3, 1], True),
    "lstm": (nn.LSTM, {}, 2, 5, False, None, True),
    "lstm_h0": (nn.LSTM, {}, 3, 4, True, None, True),
    "lstm_nobias": (nn.LSTM, {"bias": False}, 2, 3, True, None, True),
    "lstm_bidir_2layer_batch_first": (nn.LSTM, {"num_layers": 2, "bidirectional": True,
                                                "batch_first": True}, 3, 4, True, None, True),
    "lstm_3layer": (nn.LSTM, {"num_layers": 3}, 2, 3, False, None, True),
    "lstm_dropout_all": (nn.LSTM, {"num_layers": 2, "dropout": 1.0}, 2, 3, True, None, True),
    "lstm_packed_unsorted_bidir_2layer": (nn.LSTM, {"num_layers": 2, "bidirectional": True,
                                                    "batch_first": True}, 4, 5, True,
                                          [2, 5, 3, 4], False),
    "lstm_packed_sorted": (nn.LSTM, {}, 3, 4, False, [4, 2, 2], True),
    "gru": (nn.GRU, {}, 2, 5, False, None, True),
    "gru_h0_nobias": (nn.GRU, {"bias": False}, 3, 3, True, None, True),
    "gru_bidir_2layer": (nn.GRU, {"num_layers": 2, "bidirectional": True}, 2, 4, True, None,
                         True),
    "gru_packed_unsorted_bidir": (nn.GRU, {"bidirectional": True}, 3, 4, True, [1, 4, 3],
                                  False),
    "rnn_relu_packed_unsorted_2layer": (nn.RNN, {"nonlinearity": "relu", "num_layers": 2,
                                                 "batch_first": True}, 3, 3, False, [2, 3, 1],
                                        False),
}

# name -> (class, kwargs, batch or None for unbatched, initial state?)
CELLS = {
    "cell_rnn": (nn.RNNCell, {}, 3, True),
    "cell_rnn_relu_nobias": (nn.RNNCell, {"nonlinearity": "relu", "bias": False}, 2, False),
    "cell_lstm": (nn.LSTMCell, {}, 3, True),
    "cell_lstm_zero_state": (nn.LSTMCell, {}, 2, False),
    "cell_gru": (nn.GRUCell, {}, 3, True),
    "cell_gru_unbatched": (nn.GRUCell, {}, None, True),
}


def write_params(w, case, module):
    for name, p in module.named_parameters():
        w.tensor(case, "p." + name, p)


def write_grads(w, case, module):
    for name, p in module.named_parameters():
        w.tensor(case, "g." + name, p.grad)


def make_layer(w, case, cls, kwargs, batch, steps, with_state, lengths, enforce_sorted,
               sizes=(I, H)):
    """batch None: unbatched input [steps, I]. sizes: (input_size, hidden_size);
    make_golden_float64_seq.py's are smaller."""
    I, H = sizes  # noqa: N806
    module = cls(I, H, **kwargs)
    module.train()
    bf = kwargs.get("batch_first", False)
    d = 2 if kwargs.get("bidirectional", False) else 1
    layers = kwargs.get("num_layers", 1)
    batch_dims = () if batch is None else (batch,)
    x = torch.randn(*((*batch_dims, steps, I) if bf else (steps, *batch_dims, I)),
                    requires_grad=True)
    state = None
    if with_state:
        h0 = torch.randn(layers * d, *batch_dims, H, requires_grad=True)
        state = h0
        if cls is nn.LSTM:
            c0 = torch.randn(layers * d, *batch_dims, H, requires_grad=True)
            state = (h0, c0)
    kind = {nn.RNN: 1 if kwargs.get("nonlinearity") == "relu" else 0, nn.LSTM: 2, nn.GRU: 3}[cls]
    # What the C++ side needs to rebuild the layer and its call.
    w.tensor(case, "cfg", torch.tensor([kind, layers, int(kwargs.get("bias", True)), int(bf),
                                        kwargs.get("dropout", 0.0), d - 1, int(enforce_sorted)]))
    if lengths is None:
        out, hn = module(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=bf,
                                      enforce_sorted=enforce_sorted)
        out_packed, hn = module(packed, state)
        out, _ = pad_packed_sequence(out_packed, batch_first=bf)
        w.tensor(case, "lengths", torch.tensor(lengths))
    hn, cn = hn if cls is nn.LSTM else (hn, None)
    gout, ghn = torch.randn_like(out), torch.randn_like(hn)
    loss = (out * gout).sum() + (hn * ghn).sum()
    if cn is not None:
        gcn = torch.randn_like(cn)
        loss = loss + (cn * gcn).sum()
    loss.backward()
    write_params(w, case, module)
    w.tensor(case, "x", x)
    if with_state:
        w.tensor(case, "h0", h0)
        if cls is nn.LSTM:
            w.tensor(case, "c0", c0)
    w.tensor(case, "gout", gout)
    w.tensor(case, "ghn", ghn)
    w.tensor(case, "out", out)
    w.tensor(case, "hn", hn)
    w.tensor(case, "grad_x", x.grad)
    if cn is not None:
        w.tensor(case, "gcn", gcn)
        w.tensor(case, "cn", cn)
    if with_state:
        w.tensor(case, "grad_h0", h0.grad)
        if cls is nn.LSTM:
            w.tensor(case, "grad_c0", c0.grad)
    write_grads(w, case, module)


def make_cell(w, case, cls, kwargs, batch, with_state, sizes=(I, H)):
    I, H = sizes  # noqa: N806
    module = cls(I, H, **kwargs)
    shape = (batch,) if batch is not None else ()
    x = torch.randn(*shape, I, requires_grad=True)
    state = None
    if with_state:
        h0 = torch.randn(*shape, H, requires_grad=True)
        state = h0
        if cls is nn.LSTMCell:
            c0 = torch.randn(*shape, H, requires_grad=True)
            state = (h0, c0)
    kind = {nn.RNNCell: 1 if kwargs.get("nonlinearity") == "relu" else 0, nn.LSTMCell: 2,
            nn.GRUCell: 3}[cls]
    w.tensor(case, "cfg", torch.tensor([kind, 1, int(kwargs.get("bias", True))]))
    res = module(x, state)
    h, c = res if cls is nn.LSTMCell else (res, None)
    gh = torch.randn_like(h)
    loss = (h * gh).sum()
    if c is not None:
        gc = torch.randn_like(c)
        loss = loss + (c * gc).sum()
    loss.backward()
    write_params(w, case, module)
    w.tensor(case, "x", x)
    w.tensor(case, "gout", gh)
    w.tensor(case, "out", h)
    w.tensor(case, "grad_x", x.grad)
    if c is not None:
        w.tensor(case, "gcn", gc)
        w.tensor(case, "cn", c)
    if with_state:
        w.tensor(case, "h0", h0)
        w.tensor(case, "grad_h0", h0.grad)
        if cls is nn.LSTMCell:
            w.tensor(case, "c0", c0)
            w.tensor(case, "grad_c0", c0.grad)
    write_grads(w, case, module)


class Model(nn.Module):
    """What tests/test_rnn_golden.cpp rebuilds: a recurrent layer, then a Linear on h_n[-1]."""

    def __init__(self, cls):
        super().__init__()
        self.rnn = cls(5, 8, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out)


def make_models(w):
    for kind, cls in (("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)):
        model = Model(cls)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        x = torch.randn(4, 6, 5)
        target = torch.randn(4, 6, 3)
        for _ in range(20):
            opt.zero_grad()
            ((model(x) - target) ** 2).mean().backward()
            opt.step()
        write_safetensors(os.path.join(HERE, f"model_{kind}.safetensors"), model.state_dict(),
                          {"format": "pt"})
        probe = torch.randn(2, 7, 5)
        with torch.no_grad():
            w.tensor(f"model_{kind}", "x", probe)
            w.tensor(f"model_{kind}", "out", model(probe))


def main():
    torch.manual_seed(11)
    with Writer(os.path.join(HERE, "rnn.txt")) as w:
        for case, spec in LAYERS.items():
            make_layer(w, case, *spec)
        for case, spec in CELLS.items():
            make_cell(w, case, *spec)
        make_models(w)


if __name__ == "__main__":
    main()
