"""ResNet-18 (He et al. 2016, arXiv:1512.03385) from torchvision 0.14's definition,
randomly initialised (no weights are downloaded), trained and served on synthetic 3x224x224 images
with 1000 classes: cross-entropy loss, SGD with momentum 0.9. A Fulcrum workload folder
(docs/WORKLOADS.md).
"""
import numpy as np
import torch
import torchvision
from torch import nn

INPUT_SHAPE = (3, 224, 224)
NUM_CLASSES = 1000


class FulcrumWorkload:
    def setup(self, ctx):
        self.device = torch.device(ctx.device)
        torch.manual_seed(ctx.seed)
        self.model = torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES).to(self.device)
        self.data = torch.Generator(device=self.device).manual_seed(ctx.seed)
        self.optimizer = None
        if "train" in ctx.kinds:
            lr = (ctx.manifest.get("train") or {}).get("lr", 0.01)
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
            self.loss = nn.CrossEntropyLoss()
        else:  # inference only: no optimiser state, no gradients
            self.model.eval().requires_grad_(False)

    def train_batch(self, batch_size):
        x = torch.randn((batch_size, *INPUT_SHAPE), generator=self.data, device=self.device)
        y = torch.randint(NUM_CLASSES, (batch_size,), generator=self.data, device=self.device)
        return x, y

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
        """[b, 3, 224, 224] float images -> [b, 1000] logits."""
        x = torch.as_tensor(np.ascontiguousarray(inputs)).to(self.device, torch.float32)
        self.model.eval()
        with torch.no_grad():
            return self.model(x)

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
