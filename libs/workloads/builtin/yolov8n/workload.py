"""An APPROXIMATION of YOLOv8n (Ultralytics 2023), written in plain PyTorch because the ultralytics
package is not available: the layer structure of YOLOv8's "n" scale (width 0.25, depth 0.33: Conv-BN-
SiLU stem, C2f stages, SPPF, a PAN neck, the decoupled anchor-free head with 16 DFL bins per box side
and 80 classes) at 3x640x640, randomly initialised. What is approximated (see `approximation:` in
fulcrum.yaml): training uses a simplified loss on synthetic targets (BCE on the class map plus DFL
cross-entropy at random positive anchors) instead of YOLOv8's task-aligned assigner with CIoU, DFL
and BCE; inference stops at the raw head (no box decoding or NMS) and answers, per image, each
class's best logit over the 8400 anchors. A Fulcrum workload folder (docs/WORKLOADS.md).
"""
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

INPUT_SHAPE = (3, 640, 640)
NUM_CLASSES, REG_MAX = 80, 16
ANCHORS = 80 * 80 + 40 * 40 + 20 * 20  # strides 8, 16, 32
POSITIVES = 16  # synthetic objects' anchors per training image


def conv(c1, c2, k=1, s=1):
    """Conv-BN-SiLU, YOLOv8's basic block."""
    bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
    return nn.Sequential(nn.Conv2d(c1, c2, k, s, k // 2, bias=False), bn, nn.SiLU(inplace=True))


def head(c, mid, out):
    """One branch of the decoupled head at one stride: two 3x3 Conv-BN-SiLU, then a 1x1 conv."""
    return nn.Sequential(conv(c, mid, 3), conv(mid, mid, 3), nn.Conv2d(mid, out, 1))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1, self.cv2, self.shortcut = conv(c, c, 3), conv(c, c, 3), shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """Split, n bottlenecks each fed by the last, concatenate everything, fuse with a 1x1 conv."""

    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        c = c2 // 2
        self.cv1, self.cv2 = conv(c1, 2 * c), conv((2 + n) * c, c2)
        self.m = nn.ModuleList(Bottleneck(c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c = c1 // 2
        self.cv1, self.cv2, self.pool = conv(c1, c), conv(4 * c, c2), nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class YoloV8nLike(nn.Module):
    def __init__(self):
        super().__init__()
        stem = (conv(3, 16, 3, 2), conv(16, 32, 3, 2), C2f(32, 32, 1, True))
        self.p3 = nn.Sequential(*stem, conv(32, 64, 3, 2), C2f(64, 64, 2, True))
        self.p4 = nn.Sequential(conv(64, 128, 3, 2), C2f(128, 128, 2, True))
        self.p5 = nn.Sequential(conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256, 256))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top4, self.top3 = C2f(384, 128, 1, False), C2f(192, 64, 1, False)
        self.down3, self.out4 = conv(64, 64, 3, 2), C2f(192, 128, 1, False)
        self.down4, self.out5 = conv(128, 128, 3, 2), C2f(384, 256, 1, False)
        levels = (64, 128, 256)  # channels at strides 8, 16, 32
        self.box = nn.ModuleList(head(c, 64, 4 * REG_MAX) for c in levels)
        self.cls = nn.ModuleList(head(c, 80, NUM_CLASSES) for c in levels)
        for box, cls, stride in zip(self.box, self.cls, (8, 16, 32)):  # YOLOv8's prior: few objects per image
            box[-1].bias.data.fill_(1.0)
            cls[-1].bias.data.fill_(math.log(5 / NUM_CLASSES / (640 / stride) ** 2))

    def forward(self, x):
        p3 = self.p3(x)
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        t4 = self.top4(torch.cat([self.up(p5), p4], 1))
        n3 = self.top3(torch.cat([self.up(t4), p3], 1))
        n4 = self.out4(torch.cat([self.down3(n3), t4], 1))
        n5 = self.out5(torch.cat([self.down4(n4), p5], 1))
        feats = (n3, n4, n5)
        box = torch.cat([h(f).flatten(2) for h, f in zip(self.box, feats)], 2)  # [b, 4*REG_MAX, ANCHORS]
        cls = torch.cat([h(f).flatten(2) for h, f in zip(self.cls, feats)], 2)  # [b, NUM_CLASSES, ANCHORS]
        return box, cls


class FulcrumWorkload:
    def setup(self, ctx):
        self.device = torch.device(ctx.device)
        torch.manual_seed(ctx.seed)
        self.model = YoloV8nLike().to(self.device)
        self.data = torch.Generator(device=self.device).manual_seed(ctx.seed)
        self.optimizer = None
        if "train" in ctx.kinds:
            lr = (ctx.manifest.get("train") or {}).get("lr", 0.01)
            params = self.model.parameters()
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=0.937, nesterov=True, weight_decay=5e-4)
        else:  # inference only: no optimiser state, no gradients
            self.model.eval().requires_grad_(False)

    def train_batch(self, batch_size):
        def ints(high, *shape):
            return torch.randint(high, (batch_size, *shape), generator=self.data, device=self.device)

        images = torch.rand((batch_size, *INPUT_SHAPE), generator=self.data, device=self.device)
        # per image: POSITIVES anchors holding an object, its class, and its 4 side distances in DFL bins
        return images, ints(ANCHORS, POSITIVES), ints(NUM_CLASSES, POSITIVES), ints(REG_MAX, POSITIVES, 4)

    def train_step(self, batch):
        if self.optimizer is None:
            raise RuntimeError("this workload was set up without 'train' in ctx.kinds")
        images, anchors, classes, sides = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        box, cls = self.model(images)
        b = torch.arange(images.shape[0], device=self.device)[:, None]
        target = torch.zeros_like(cls)
        target[b, classes, anchors] = 1.0
        cls_loss = F.binary_cross_entropy_with_logits(cls, target, reduction="sum") / anchors.numel()
        bins = box.view(images.shape[0], 4, REG_MAX, ANCHORS)[b, :, :, anchors]  # [b, POSITIVES, 4, REG_MAX]
        dfl_loss = F.cross_entropy(bins.reshape(-1, REG_MAX), sides.reshape(-1))
        loss = cls_loss + dfl_loss
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}

    def infer(self, inputs):
        """[b, 3, 640, 640] float images -> [b, 80]: each class's best logit over all anchors."""
        x = torch.as_tensor(np.ascontiguousarray(inputs)).to(self.device, torch.float32)
        self.model.eval()
        with torch.no_grad():
            _, cls = self.model(x)
            return cls.amax(2)

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
