"""safetensors both ways with PyTorch 1.13, which has no safetensors package: a few lines of
json + struct + torch.frombuffer (called by make_golden.py).

1. Reads from_ember.safetensors (written by Ember; tests/test_io.cpp checks Ember still writes
   exactly these bytes) and asserts PyTorch sees the names, shapes, values and metadata Ember
   meant.
2. Writes from_torch.safetensors from a torch state_dict (plus an int64 tensor and metadata),
   and from_torch.txt with the values Ember must read back.
"""
import json
import os
import struct

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"F32": torch.float32, "I64": torch.int64}
NAMES = {torch.float32: "F32", torch.int64: "I64"}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def check_from_ember():
    tensors, metadata = read_safetensors(os.path.join(HERE, "from_ember.safetensors"))
    assert set(tensors) == {"fc.weight", "fc.bias", "step"}, tensors.keys()
    assert torch.equal(tensors["fc.weight"], torch.arange(6.0).reshape(2, 3) / 2)
    assert torch.equal(tensors["fc.bias"], torch.tensor([-1.0, 0.5]))
    assert torch.equal(tensors["step"], torch.tensor([1, 2, 3]))
    assert metadata == {"format": "pt", "note": "이름은 \"채영\""}, metadata
    model = nn.Linear(3, 2)
    model.load_state_dict({"weight": tensors["fc.weight"], "bias": tensors["fc.bias"]})
    print("PyTorch read from_ember.safetensors: names, shapes, values and metadata match")


def write_from_torch():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    tensors = dict(model.state_dict())
    tensors["ids"] = torch.tensor([[4, 0], [7, 1]])
    write_safetensors(os.path.join(HERE, "from_torch.safetensors"), tensors,
                      {"source": "torch 1.13"})
    with open(os.path.join(HERE, "from_torch.txt"), "w") as f:
        for name, t in tensors.items():
            values = " ".join(repr(float(v)) for v in t.reshape(-1).tolist())
            f.write(f"{name} {t.numel()} {values}\n")


def main():
    check_from_ember()
    write_from_torch()


if __name__ == "__main__":
    main()
