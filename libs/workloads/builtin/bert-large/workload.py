"""BERT-large (Devlin et al. 2019, arXiv:1810.04805: 24 layers, hidden 1024, 16 heads, FFN 4096,
GELU, post-LayerNorm) for sequence classification, built from nn.Embedding and
nn.TransformerEncoder: token + position + segment embeddings, the encoder, BERT's pooler (dense +
tanh on token 0) and a 2-class head. Randomly initialised; trained and served on synthetic 128-token
sequences (vocabulary 30522) with cross-entropy and AdamW. A Fulcrum workload folder
(docs/WORKLOADS.md).
"""
import numpy as np
import torch
from torch import nn

LAYERS, HIDDEN, HEADS = 24, 1024, 16
VOCAB, MAX_POSITIONS, SEQUENCE, NUM_CLASSES = 30522, 512, 128, 2


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, HIDDEN, padding_idx=0)
        self.positions = nn.Embedding(MAX_POSITIONS, HIDDEN)
        self.segments = nn.Embedding(2, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.dropout = nn.Dropout(0.1)
        layer = nn.TransformerEncoderLayer(
            HIDDEN, HEADS, 4 * HIDDEN, dropout=0.1, activation="gelu", layer_norm_eps=1e-12, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.pooler = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.Tanh())
        self.classifier = nn.Linear(HIDDEN, NUM_CLASSES)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.tokens(ids) + self.positions(positions) + self.segments.weight[0]  # one segment
        x = self.encoder(self.dropout(self.norm(x)))
        return self.classifier(self.dropout(self.pooler(x[:, 0])))


class FulcrumWorkload:
    def setup(self, ctx):
        self.device = torch.device(ctx.device)
        torch.manual_seed(ctx.seed)
        self.model = Bert().to(self.device)
        self.data = torch.Generator(device=self.device).manual_seed(ctx.seed)
        self.optimizer = None
        if "train" in ctx.kinds:
            lr = (ctx.manifest.get("train") or {}).get("lr", 2e-5)
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
            self.loss = nn.CrossEntropyLoss()
        else:  # inference only: no optimiser state, no gradients
            self.model.eval().requires_grad_(False)

    def train_batch(self, batch_size):
        ids = torch.randint(1, VOCAB, (batch_size, SEQUENCE), generator=self.data, device=self.device)
        labels = torch.randint(NUM_CLASSES, (batch_size,), generator=self.data, device=self.device)
        return ids, labels

    def train_step(self, batch):
        if self.optimizer is None:
            raise RuntimeError("this workload was set up without 'train' in ctx.kinds")
        ids, labels = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(ids), labels)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}

    def infer(self, inputs):
        """[b, 128] int token ids (taken modulo the vocabulary) -> [b, 2] logits."""
        ids = torch.as_tensor(np.ascontiguousarray(inputs)).to(self.device, torch.int64).remainder(VOCAB)
        self.model.eval()
        with torch.no_grad():
            return self.model(ids)

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
