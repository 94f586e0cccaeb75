"""BERT's embedding block in PyTorch, written as the original model's BertEmbeddings
(word + position + token-type embeddings, LayerNorm, Dropout), for examples/bert_embeddings.hpp
(called by make_golden.py; writes bert.txt). Dropout is off (eval mode) so values are exact.
"""
import os

import torch
import torch.nn as nn

from golden_io import Writer

HERE = os.path.dirname(os.path.abspath(__file__))


class BertEmbeddings(nn.Module):
    def __init__(self, vocab_size, hidden_size, pad_token_id, max_position_embeddings,
                 type_vocab_size, layer_norm_eps, hidden_dropout_prob):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id)
        self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        x = (self.word_embeddings(input_ids) + self.position_embeddings(positions) +
             self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(x))


def main():
    torch.manual_seed(4)
    model = BertEmbeddings(50, 8, 0, 16, 2, 1e-12, 0.1)
    with torch.no_grad():
        model.LayerNorm.weight.copy_(torch.rand(8) + 0.5)
        model.LayerNorm.bias.copy_(torch.randn(8) * 0.1)
    model.eval()
    input_ids = torch.tensor([[5, 17, 0, 0, 0], [23, 4, 4, 49, 1]])
    token_type_ids = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 0]])
    out = model(input_ids, token_type_ids)
    gout = torch.randn(out.shape)
    out.backward(gout)
    with Writer(os.path.join(HERE, "bert.txt")) as w:
        for name, p in model.named_parameters():
            w.tensor("bert", "param." + name, p)
            w.tensor("bert", "grad." + name, p.grad)
        w.tensor("bert", "input_ids", input_ids)
        w.tensor("bert", "token_type_ids", token_type_ids)
        w.tensor("bert", "gout", gout)
        w.tensor("bert", "out", out)


if __name__ == "__main__":
    main()
