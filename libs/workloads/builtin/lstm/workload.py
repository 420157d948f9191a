"""A 2-layer LSTM word-level language model: the structure of Pagoda's LSTM (dream-lab/pagoda,
src/analysis/create_onnx_models.ipynb: vocabulary 29423, embedding -> 2-layer LSTM -> linear decoder
tied to the embedding, dropout 0.2, sequences of 32 tokens) at Pagoda's width 256: 8.6 M parameters,
the model whose published FLOPs and bytes the virtual board is calibrated on (the manifest's cost:).
Randomly initialised; trained on synthetic token sequences (next-token cross-entropy, Adam, gradient
norm clipped at 0.25) and served as next-token logits. A Fulcrum workload folder (docs/WORKLOADS.md).
"""
import numpy as np
import torch
from torch import nn

VOCAB, WIDTH, LAYERS, DROPOUT, SEQUENCE = 29423, 256, 2, 0.2, 32


class WordLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, WIDTH)
        self.lstm = nn.LSTM(WIDTH, WIDTH, LAYERS, dropout=DROPOUT, batch_first=True)
        self.dropout = nn.Dropout(DROPOUT)
        self.decoder = nn.Linear(WIDTH, VOCAB)
        self.decoder.weight = self.embedding.weight  # tied weights, as Pagoda's model

    def forward(self, ids):
        out, _ = self.lstm(self.dropout(self.embedding(ids)))  # zero initial state
        return self.decoder(self.dropout(out))  # [b, t, VOCAB]


class FulcrumWorkload:
    def setup(self, ctx):
        self.device = torch.device(ctx.device)
        torch.manual_seed(ctx.seed)
        self.model = WordLSTM().to(self.device)
        self.data = torch.Generator(device=self.device).manual_seed(ctx.seed)
        self.optimizer = None
        if "train" in ctx.kinds:
            lr = (ctx.manifest.get("train") or {}).get("lr", 1e-3)
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
            self.loss = nn.CrossEntropyLoss()
        else:  # inference only: no optimiser state, no gradients
            self.model.eval().requires_grad_(False)

    def train_batch(self, batch_size):
        # SEQUENCE + 1 tokens: the model reads the first 32 and predicts the last 32.
        return torch.randint(VOCAB, (batch_size, SEQUENCE + 1), generator=self.data, device=self.device)

    def train_step(self, batch):
        if self.optimizer is None:
            raise RuntimeError("this workload was set up without 'train' in ctx.kinds")
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(batch[:, :-1])
        loss = self.loss(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 0.25)
        self.optimizer.step()
        return {"loss": loss.item()}

    def infer(self, inputs):
        """[b, 32] int token ids (taken modulo the vocabulary) -> [b, 29423] next-token logits."""
        ids = torch.as_tensor(np.ascontiguousarray(inputs)).to(self.device, torch.int64).remainder(VOCAB)
        self.model.eval()
        with torch.no_grad():
            return self.model(ids)[:, -1]

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
