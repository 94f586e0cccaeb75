"""Golden data for tests/test_models.cpp: a small GPT-2 and a small BERT written in plain
PyTorch 1.13 with the Hugging Face hub's module names, parameter names and math (transformers
is not installed and nothing may be downloaded), saved as the hub ships them: config.json and
model.safetensors, plus io.safetensors with the inputs, the logits, every parameter's gradient
after one backward and 10 AdamW losses.

Run with /usr/bin/python3 from anywhere; writes tests/golden/hf_gpt2/ and tests/golden/hf_bert/.
    /usr/bin/python3 tests/golden/make_golden_hf.py            # regenerate the golden data
    /usr/bin/python3 tests/golden/make_golden_hf.py --check DIR  # load an Ember-saved checkpoint
The --check form loads DIR/config.json + DIR/model.safetensors into the PyTorch twin with
strict=True (the test writes such a directory with Ember's save_pretrained).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden_io import read_safetensors, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- GPT-2, as transformers' modeling_gpt2.py --------------------------------------------
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Conv1D(nn.Module):
    """The hub's Conv1D: a linear layer whose weight is stored [in, out]."""

    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.randn(nf) * 0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.weight.size(-1),)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)


class GPT2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head, self.embed_dim = c["n_head"], c["n_embd"]
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)

    def split(self, t):
        b, s, _ = t.shape
        return t.view(b, s, self.n_head, -1).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.c_attn(x).split(self.embed_dim, dim=2)
        q, k, v = self.split(q), self.split(k), self.split(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
        t = x.size(1)
        causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min))
        a = torch.matmul(F.softmax(w, dim=-1), v)
        a = a.permute(0, 2, 1, 3).contiguous().view(x.shape)
        return self.c_proj(a)


class GPT2MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = Conv1D(4 * c["n_embd"], c["n_embd"])
        self.c_proj = Conv1D(c["n_embd"], 4 * c["n_embd"])

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        eps = c["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(c["n_embd"], eps=eps)
        self.attn = GPT2Attention(c)
        self.ln_2 = nn.LayerNorm(c["n_embd"], eps=eps)
        self.mlp = GPT2MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        self.h = nn.ModuleList([GPT2Block(c) for _ in range(c["n_layer"])])
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])

    def forward(self, ids):
        pos = torch.arange(ids.size(1)).unsqueeze(0)
        x = self.wte(ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = GPT2Model(c)
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as the hub ties it

    def forward(self, ids):
        return self.lm_head(self.transformer(ids))

    @staticmethod
    def loss(logits, ids):
        v = logits.size(-1)
        return F.cross_entropy(logits[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1))


# ---- BERT, as transformers' modeling_bert.py ---------------------------------------------
class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"],
                                            padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids, types):
        pos = torch.arange(ids.size(1)).unsqueeze(0)
        x = self.word_embeddings(ids) + self.token_type_embeddings(types)
        return self.LayerNorm(x + self.position_embeddings(pos))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    def split(self, t):
        b, s, _ = t.shape
        return t.view(b, s, self.heads, -1).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.size(-1)) + ext_mask
        a = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return a.view(x.shape)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, ext_mask):
        return self.output(self.self(x, ext_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, ext_mask):
        a = self.attention(x, ext_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, ext_mask):
        for layer in self.layer:
            x = layer(x, ext_mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c, add_pooling_layer=True):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if add_pooling_layer else None

    def forward(self, ids, types, mask):
        # 1 = attend; 0 becomes the float32 minimum added to the scores (the hub's rule).
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        seq = self.encoder(self.embeddings(ids, types), ext)
        return seq, (self.pooler(seq) if self.pooler is not None else None)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.decoder = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        self.decoder.bias = self.bias

    def forward(self, x):
        return self.decoder(self.transform(x))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = BertLMPredictionHead(c)

    def forward(self, x):
        return self.predictions(x)


class BertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(c)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, ids, types, mask):
        return self.cls(self.bert(ids, types, mask)[0])

    @staticmethod
    def loss(logits, labels):
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                               ignore_index=-100)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, ids, types, mask):
        return self.classifier(self.bert(ids, types, mask)[1])


# ---- golden data ---------------------------------------------------------------------------
GPT2_CONFIG = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
    "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0, "bos_token_id": 0,
    "eos_token_id": 0, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "n_ctx": 32,
    "n_embd": 32, "n_head": 4, "n_inner": None, "n_layer": 2, "n_positions": 32,
    "vocab_size": 80, "use_cache": True, "torch_dtype": "float32",
}
BERT_CONFIG = {
    "architectures": ["BertForMaskedLM"], "model_type": "bert", "attention_probs_dropout_prob": 0.0,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": 32,
    "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-12,
    "max_position_embeddings": 32, "num_attention_heads": 4, "num_hidden_layers": 2,
    "pad_token_id": 0, "position_embedding_type": "absolute", "type_vocab_size": 2,
    "vocab_size": 64, "id2label": {"0": "neg", "1": "pos", "2": "mixed"},
    "label2id": {"neg": 0, "pos": 1, "mixed": 2}, "torch_dtype": "float32",
}


def randomise(model):
    # Non-trivial LayerNorm and bias values, so a swapped weight/bias shows in the test.
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.1 if p.dim() == 1 else 0.05))
            if name.endswith("LayerNorm.weight") or ".ln_" in name:
                p.add_(1.0)


def write_dir(name, config, model, inputs, run, loss_of):
    out = os.path.join(HERE, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    # The hub's files drop the tied duplicates (lm_head.weight, cls.predictions.decoder.*).
    tied = {"lm_head.weight", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    state = {k: v for k, v in model.state_dict().items() if k not in tied}
    write_safetensors(os.path.join(out, "model.safetensors"), state, {"format": "pt"})

    io = dict(inputs)
    logits = run(model)
    io["logits"] = logits
    loss = loss_of(logits)
    io["loss"] = loss.reshape(1)
    loss.backward()
    for n, p in model.named_parameters():
        io["grad." + n] = p.grad.clone()
    # 10 AdamW steps from the checkpoint, the loss before each step.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = loss_of(run(model))
        losses.append(loss.item())
        loss.backward()
        opt.step()
    io["losses"] = torch.tensor(losses)
    # Every name and shape of PyTorch's state_dict (tied ones too): what load_state_dict(
    # strict=True) wants, so the C++ test can check a file Ember saved without Python.
    names = ";".join(f"{k}:{'x'.join(str(d) for d in v.shape)}"
                     for k, v in model.state_dict().items())
    write_safetensors(os.path.join(out, "io.safetensors"), io,
                      {"source": "torch 1.13", "state_dict": names})
    print(name, "loss", losses[0], "->", losses[-1])


def make():
    torch.manual_seed(0)
    gpt = GPT2LMHeadModel(GPT2_CONFIG)
    randomise(gpt)
    ids = torch.randint(0, 80, (2, 12))
    write_dir("hf_gpt2", GPT2_CONFIG, gpt, {"input_ids": ids}, lambda m: m(ids),
              lambda lg: GPT2LMHeadModel.loss(lg, ids))

    bert = BertForMaskedLM(BERT_CONFIG)
    randomise(bert)
    ids = torch.randint(1, 64, (2, 10))
    ids[1, 7:] = 0  # padding, hidden by the attention mask
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[0, 6], labels[1, 1], labels[1, 4] = 5, 9, 13, 40
    inputs = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
              "labels": labels}
    write_dir("hf_bert", BERT_CONFIG, bert, inputs, lambda m: m(ids, types, mask),
              lambda lg: BertForMaskedLM.loss(lg, labels))

    # A WordPiece vocabulary of the checkpoint's 64 ids, so ember-lm finetune-classify can start
    # from this BERT in the ctest.
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(97, 123)]
    vocab += ["##" + chr(c) for c in range(97, 123)] + ["the", "good", "bad", ".", ",", "!", "?"]
    assert len(vocab) == BERT_CONFIG["vocab_size"]
    with open(os.path.join(HERE, "hf_bert", "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")

    # The classifier (with the pooler): logits, gradients and 10 losses of its own.
    cls = BertForSequenceClassification(BERT_CONFIG)
    randomise(cls)
    target = torch.tensor([2, 0])
    run = lambda m: m(ids, types, mask)  # noqa: E731
    cls_config = dict(BERT_CONFIG, architectures=["BertForSequenceClassification"])
    write_dir("hf_bert_cls", cls_config, cls, {"input_ids": ids, "token_type_ids": types,
                                                "attention_mask": mask, "labels": target},
              run, lambda lg: F.cross_entropy(lg, target))


def check(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    arch = config["architectures"][0]
    model = {"GPT2LMHeadModel": GPT2LMHeadModel, "BertForMaskedLM": BertForMaskedLM,
             "BertForSequenceClassification": BertForSequenceClassification}[arch](config)
    tensors, _ = read_safetensors(os.path.join(directory, "model.safetensors"))
    model.load_state_dict(tensors, strict=True)
    print(f"PyTorch loaded {arch} from {directory} with strict=True ({len(tensors)} tensors)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        make()
