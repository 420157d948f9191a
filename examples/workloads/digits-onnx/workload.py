"""The digits CNN of ../digits-classifier, trained and frozen: inference only (docs/WORKLOADS.md).

The manifest's `infer.onnx: model.onnx` makes Fulcrum serve this workload with onnxruntime-node;
this module is the Python path to the same model, for a runtime that serves it with PyTorch: it
builds the same network and loads weights.pt. export.py writes both files from one training run,
so both paths answer the same class for the same input.

Inputs: float32 [b, 1, 8, 8], grey pixels scaled to 0..1 (scikit-learn's 0..16 digits / 16).
Output: the 10 logits of each sample.

    /usr/bin/python3 examples/workloads/digits-onnx/workload.py   # classifies a few held-out digits
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class DigitsNet(nn.Module):
    """A copy of ../digits-classifier's DigitsNet (this folder stands alone): keep the two the same."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class FulcrumWorkload:
    def setup(self, ctx):
        self.device = torch.device(ctx.device)
        self.model = DigitsNet()
        state = torch.load(os.path.join(ctx.folder, "weights.pt"), map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)
        self.model.to(self.device).eval()

    def infer(self, inputs):
        """inputs: float32 [b, 1, 8, 8] in 0..1 -> logits [b, 10]."""
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device)
        with torch.no_grad():
            return self.model(x).cpu()


def served(device="cpu"):
    """This folder's FulcrumWorkload, set up as the runtime would for inference."""
    from types import SimpleNamespace

    folder = os.path.dirname(os.path.abspath(__file__))
    manifest = {"name": "digits-onnx", "infer": {"onnx": "model.onnx", "input": {"shape": [1, 8, 8]}}}
    workload = FulcrumWorkload()
    workload.setup(SimpleNamespace(device=device, folder=folder, seed=0, manifest=manifest, kinds={"infer"}))
    return workload


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    # The held-out split of ../digits-classifier (the first 360 of a permutation seeded with 0).
    digits = load_digits()
    test = np.random.RandomState(0).permutation(len(digits.target))[:360]
    images, labels = digits.images[test], digits.target[test]
    predicted = served().infer((images.astype(np.float32) / 16.0)[:, None]).argmax(1).numpy()
    print(f"first 10 held-out labels: {labels[:10].tolist()}, predicted: {predicted[:10].tolist()}")
    print(f"held-out accuracy: {(predicted == labels).mean():.3f} (360 images)")
