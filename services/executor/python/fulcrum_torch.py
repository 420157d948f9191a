"""Helpers for workload modules (docs/WORKLOADS.md), shipped with Fulcrum's Python worker.

The worker runs from this file's folder, so any workload.py it drives may
`from fulcrum_torch import SupervisedWorkload` (you may also write FulcrumWorkload from scratch:
these are only the common parts). A subclass names its model, its synthetic (or real) data and,
when it differs, its optimiser; the base class does the rest of the contract:

    class FulcrumWorkload(SyntheticImageClassifier):
        def build_model(self):
            return torchvision.models.resnet18(weights=None, num_classes=self.classes)

- setup(ctx): seeds torch and a data generator on ctx.device, builds the model, and creates the
  optimiser and loss only when "train" is in ctx.kinds (an inference-only worker keeps no optimiser
  state and no gradients);
- train_batch(b) -> synthetic_batch(b); train_step((x, y)) -> one optimiser step, {"loss"};
- infer(inputs) -> the model's output on prepare_inputs(inputs), without gradients;
- state_dict()/load_state_dict(): the model and the optimiser.
"""
import numpy as np
import torch
from torch import nn


class SupervisedWorkload:
    """A supervised nn.Module trained with (x, y) minibatches; subclasses give build_model and synthetic_batch."""

    #: Learning rate when the manifest's train: section has no lr.
    default_lr = 0.01

    def build_model(self):
        raise NotImplementedError("build_model() must return the nn.Module")

    def synthetic_batch(self, batch_size):
        """(x, y) of batch_size samples on self.device, drawn with self.data (a seeded torch.Generator)."""
        raise NotImplementedError("synthetic_batch(batch_size) must return (inputs, targets)")

    def make_optimizer(self, params, lr):
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)

    def make_loss(self):
        return nn.CrossEntropyLoss()

    def prepare_inputs(self, inputs):
        """The numpy batch a request gives -> the model's input tensor."""
        return torch.as_tensor(np.ascontiguousarray(inputs)).to(self.device, torch.float32)

    # ---- the FulcrumWorkload contract ------------------------------------------------------

    def setup(self, ctx):
        self.device = torch.device(ctx.device)
        self.manifest = ctx.manifest
        torch.manual_seed(ctx.seed)
        self.model = self.build_model().to(self.device)
        self.data = torch.Generator(device=self.device).manual_seed(ctx.seed)
        self.optimizer = None
        if "train" in ctx.kinds:
            lr = (ctx.manifest.get("train") or {}).get("lr", self.default_lr)
            self.optimizer = self.make_optimizer(self.model.parameters(), lr)
            self.loss = self.make_loss()
        else:  # inference only: no optimiser state, no gradients
            self.model.eval().requires_grad_(False)

    def train_batch(self, batch_size):
        return self.synthetic_batch(batch_size)

    def train_step(self, batch):
        if self.optimizer is None:
            raise RuntimeError("this workload was set up without 'train' in ctx.kinds")
        x, y = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}

    def infer(self, inputs):
        x = self.prepare_inputs(inputs)
        self.model.eval()
        with torch.no_grad():
            return self.model(x)

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])


class SyntheticImageClassifier(SupervisedWorkload):
    """Random images of input_shape and random labels of `classes` classes: cross-entropy, SGD with momentum."""

    input_shape = (3, 224, 224)
    classes = 1000

    def synthetic_batch(self, batch_size):
        x = torch.randn((batch_size, *self.input_shape), generator=self.data, device=self.device)
        y = torch.randint(self.classes, (batch_size,), generator=self.data, device=self.device)
        return x, y


class TransformerEncoderClassifier(nn.Module):
    """BERT's shape for sequence classification on nn.TransformerEncoder: token + position + segment
    embeddings and LayerNorm, post-LayerNorm encoder layers (GELU, FFN 4×hidden), BERT's pooler
    (dense + tanh on token 0) and a linear head."""

    def __init__(self, layers, hidden, heads, vocab=30522, max_positions=512, classes=2, dropout=0.1):
        super().__init__()
        self.tokens = nn.Embedding(vocab, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_positions, hidden)
        self.segments = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout=dropout, activation="gelu", layer_norm_eps=1e-12, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.pooler = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.tokens(ids) + self.positions(positions) + self.segments.weight[0]  # one segment
        x = self.encoder(self.dropout(self.norm(x)))
        return self.classifier(self.dropout(self.pooler(x[:, 0])))


class SyntheticSequenceClassifier(SupervisedWorkload):
    """Random token sequences of `sequence` tokens from a `vocab`-word vocabulary and random labels;
    request inputs are int token ids, taken modulo the vocabulary. AdamW, as BERT fine-tuning."""

    vocab = 30522
    sequence = 128
    classes = 2
    default_lr = 2e-5

    def make_optimizer(self, params, lr):
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)

    def synthetic_batch(self, batch_size):
        ids = torch.randint(1, self.vocab, (batch_size, self.sequence), generator=self.data, device=self.device)
        labels = torch.randint(self.classes, (batch_size,), generator=self.data, device=self.device)
        return ids, labels

    def prepare_inputs(self, inputs):
        return torch.as_tensor(np.ascontiguousarray(inputs)).to(self.device, torch.int64).remainder(self.vocab)
