"""A small CNN that learns scikit-learn's handwritten digits (docs/WORKLOADS.md's contract).

The data set is `sklearn.datasets.load_digits()`: 1797 grey 8x8 images of the digits 0-9 with
pixel values 0..16, shipped inside scikit-learn (no download). It is split once, with a fixed
seed, into 1437 training and 360 held-out images.

Inputs (training and inference alike) are one channel of 8x8 float32 pixels scaled to 0..1, i.e.
`image / 16`; a sample has the manifest's `infer.input.shape` [1, 8, 8]. `infer` answers the 10
logits of each sample.

Try it on its own (about 300 training steps on the CPU, then the held-out accuracy):

    /usr/bin/python3 examples/workloads/digits-classifier/workload.py
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Held-out images; the split does not depend on ctx.seed, so every run tests on the same 360.
TEST_SIZE = 360
SPLIT_SEED = 0


class DigitsNet(nn.Module):
    """conv 1->16 (3x3) -> ReLU -> conv 16->32 (3x3) -> ReLU -> 2x2 max-pool -> 512 -> 64 -> 10.

    ../digits-onnx/workload.py holds a copy of this class (that folder stands alone); keep the two
    the same.
    """

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


def load_split():
    """(train_images, train_labels, test_images, test_labels): images uint8 [n, 8, 8] 0..16, labels int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)
    labels = digits.target.astype(np.int64)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(labels))
    test, train = order[:TEST_SIZE], order[TEST_SIZE:]
    return images[train], labels[train], images[test], labels[test]


def to_input(images):
    """uint8 images [n, 8, 8] (0..16) -> float32 [n, 1, 8, 8] (0..1), the model's input."""
    return (np.asarray(images, dtype=np.float32) / 16.0)[:, None, :, :]


class EpochLoader:
    """Shuffled minibatches of the training split, epoch after epoch.

    Epoch e's order is a permutation drawn from a generator seeded with (seed, e), so the loader's
    whole position is (epoch, cursor): a checkpoint restores it exactly. A minibatch that runs past
    the end of an epoch is completed from the next one, so every minibatch has the size asked for.
    """

    def __init__(self, images, labels, seed):
        self.images, self.labels, self.seed = images, labels, int(seed)
        self.epoch, self.cursor = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch):
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.labels), generator=g).numpy()

    def next_indices(self, batch_size):
        picked = []
        while batch_size > 0:
            if self.cursor == len(self._order):
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            take = min(batch_size, len(self._order) - self.cursor)
            picked.append(self._order[self.cursor : self.cursor + take])
            self.cursor += take
            batch_size -= take
        return np.concatenate(picked)

    def state_dict(self):
        return {"seed": self.seed, "epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state):
        self.seed, self.epoch, self.cursor = int(state["seed"]), int(state["epoch"]), int(state["cursor"])
        self._order = self._permutation(self.epoch)


class FulcrumWorkload:
    def setup(self, ctx):
        self.device = torch.device(ctx.device)
        self.kinds = set(ctx.kinds)
        torch.manual_seed(ctx.seed)
        self.model = DigitsNet().to(self.device)
        self.steps = 0
        self.optimizer = None
        self.loader = None
        if "train" in self.kinds:
            lr = float((ctx.manifest.get("train") or {}).get("lr", 1e-3))
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
            train_x, train_y, _, _ = load_split()
            self.loader = EpochLoader(train_x, train_y, ctx.seed)

    # -- training -------------------------------------------------------------------------------

    def train_batch(self, batch_size):
        """Data loading: the next shuffled minibatch, scaled to 0..1 and moved to the device."""
        idx = self.loader.next_indices(batch_size)
        x = torch.from_numpy(to_input(self.loader.images[idx]))
        y = torch.from_numpy(self.loader.labels[idx])
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def train_step(self, batch):
        x, y = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        accuracy = (logits.argmax(1) == y).float().mean()
        return {"loss": float(loss.item()), "accuracy": float(accuracy.item())}

    # -- inference ------------------------------------------------------------------------------

    def infer(self, inputs):
        """inputs: float32 [b, 1, 8, 8] in 0..1 -> logits [b, 10]."""
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device)
        self.model.eval()
        with torch.no_grad():
            return self.model(x).cpu()

    # -- checkpoints ----------------------------------------------------------------------------

    def state_dict(self):
        state = {"model": self.model.state_dict(), "steps": self.steps}
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
            state["loader"] = self.loader.state_dict()
        return state

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.steps = int(state.get("steps", 0))
        if self.optimizer is not None and "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.loader is not None and "loader" in state:
            self.loader.load_state_dict(state["loader"])


def test_accuracy(workload):
    """Accuracy of `workload` on the 360 held-out images."""
    _, _, test_x, test_y = load_split()
    logits = workload.infer(to_input(test_x))
    return float((logits.argmax(1).numpy() == test_y).mean())


def trained(steps=300, batch_size=32, seed=0, lr=1e-3):
    """A FulcrumWorkload trained for `steps` minibatches on the CPU, as the runtime would drive it."""
    from types import SimpleNamespace

    manifest = {"name": "digits-classifier", "train": {"batch_size": batch_size, "lr": lr}, "infer": {"input": {"shape": [1, 8, 8]}}}
    ctx = SimpleNamespace(device="cpu", folder=os.path.dirname(os.path.abspath(__file__)), seed=seed, manifest=manifest, kinds={"train", "infer"})
    workload = FulcrumWorkload()
    workload.setup(ctx)
    for _ in range(steps):
        result = workload.train_step(workload.train_batch(batch_size))
    return workload, result


if __name__ == "__main__":
    import time

    start = time.perf_counter()
    workload, last = trained()
    print(f"300 steps of 32 in {time.perf_counter() - start:.1f} s: last minibatch loss {last['loss']:.3f}, accuracy {last['accuracy']:.3f}")
    print(f"held-out accuracy: {test_accuracy(workload):.3f} (360 images, chance 0.1)")
