"""safetensors both ways with PyTorch 1.13, which has no safetensors package: a few lines of
json + struct + torch.frombuffer (called by make_golden.py).

1. Reads from_ember.safetensors (written by Ember; tests/test_io.cpp checks Ember still writes
   exactly these bytes) and asserts PyTorch sees the names, shapes, values and metadata Ember
   meant.
2. Writes from_torch.safetensors from a torch state_dict (plus an int64 tensor and metadata),
   and from_torch.txt with the values Ember must read back.
3. Reads from_ember_bf16.safetensors (a float32 Ember model saved in bfloat16 on request, a
   bool and a float64 tensor) and asserts PyTorch sees the dtypes and exact values and that the
   bfloat16 state_dict loads into the float32 PyTorch model.
4. Writes from_torch_bf16.safetensors (a Linear + LayerNorm state_dict in bfloat16, and F64,
   BOOL and F16 tensors, the F16 one with subnormals, infinities, NaNs and -0) and
   from_torch_bf16.txt: each tensor's element bits as Ember must hold them (F16 as the float32
   bits of PyTorch's .float()), and a float32 forward of the bfloat16-rounded weights.
"""
import json
import os
import struct

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16,
          "F16": torch.float16, "BOOL": torch.bool, "I64": torch.int64}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


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
        t = t.detach().contiguous()
        # numpy has no bfloat16: its bytes are read as int16.
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
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


def ember_bf16_model():
    """Linear(4, 3) + LayerNorm(3) with the values tests/test_io.cpp gives the Ember model."""
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    with torch.no_grad():
        model[0].weight.copy_((torch.arange(12.0) / 7 - 0.8).reshape(3, 4))
        model[0].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        model[1].weight.copy_(torch.tensor([1.5, 0.75, -1.0]))
        model[1].bias.copy_(torch.tensor([0.01, 0.02, 0.03]))
    return model


def check_from_ember_bf16():
    tensors, metadata = read_safetensors(os.path.join(HERE, "from_ember_bf16.safetensors"))
    model = ember_bf16_model()
    expected = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    expected["mask"] = torch.tensor([[True, False, True], [False, False, True]])
    expected["scale"] = torch.tensor([0.1, 1.0 / 3.0], dtype=torch.float64)
    assert set(tensors) == set(expected), tensors.keys()
    for name, want in expected.items():
        got = tensors[name]
        assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape)
        assert torch.equal(got, want), (name, got, want)
    assert metadata == {"format": "pt"}, metadata
    loaded = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    loaded.load_state_dict({k: v for k, v in tensors.items() if k[0].isdigit()})
    for name, p in loaded.state_dict().items():
        assert p.dtype == torch.float32 and torch.equal(p, expected[name].float()), name
    print("PyTorch read from_ember_bf16.safetensors: dtypes, shapes and values match")


def bits(t):
    """Each element's bits as Ember holds them, in hex."""
    width = {torch.float32: (torch.int32, 8), torch.bfloat16: (torch.int16, 4),
             torch.float64: (torch.int64, 16), torch.bool: (torch.uint8, 2)}
    as_int, digits = width[t.dtype]
    mask = (1 << (4 * digits)) - 1
    return " ".join(f"{v & mask:0{digits}x}" for v in t.reshape(-1).view(as_int).tolist())


def write_from_torch_bf16():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    with torch.no_grad():
        model[1].weight.normal_()
        model[1].bias.normal_()
    tensors = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    tensors["extra.f64"] = torch.tensor([[0.1, 1.0 / 3.0], [-2.5, 1e-300]], dtype=torch.float64)
    tensors["extra.mask"] = torch.tensor([[True, False, True], [False, False, True]])
    half_bits = [0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x8000, 0x3555, 0xC000,
                 0x8001, 0x7D00, 0xFE01, 0x0000]
    tensors["extra.f16"] = torch.tensor(half_bits, dtype=torch.int32).to(torch.int16).view(
        torch.float16)
    write_safetensors(os.path.join(HERE, "from_torch_bf16.safetensors"), tensors,
                      {"source": "torch 1.13 bf16"})
    # The float32 model Ember loads the bfloat16 values into, and its forward.
    for name, p in model.state_dict().items():
        p.copy_(tensors[name].float())
    x = torch.randn(2, 4)
    with torch.no_grad():
        out = model(x)
    with open(os.path.join(HERE, "from_torch_bf16.txt"), "w") as f:
        for name, t in tensors.items():
            name_in_file = NAMES[t.dtype]
            if t.dtype == torch.float16:  # Ember reads it as float32
                t = t.float()
            shape = ",".join(str(d) for d in t.shape)
            f.write(f"{name} {name_in_file} {shape} {bits(t)}\n")
        f.write(f"forward.x F32 2,4 {bits(x)}\n")
        f.write(f"forward.out F32 2,3 {bits(out)}\n")


def main():
    check_from_ember()
    write_from_torch()
    if os.path.exists(os.path.join(HERE, "from_ember_bf16.safetensors")):
        check_from_ember_bf16()
    write_from_torch_bf16()


if __name__ == "__main__":
    main()
