#!/usr/bin/env python3
"""Fulcrum minibatch worker: a long-lived PyTorch process driven over stdio by the executor.

Protocol: JSON lines. Each request on stdin is one object with an integer "id" and an "op"; each
reply on stdout is one object with the same "id" and "ok": true plus results, or "ok": false and
"error". stdout carries nothing else (logs go to stderr). One request at a time: the executor never
overlaps minibatches.

ops:
  hello                                  -> device, torch version, pid, threads
  init   {train: {...}, infer: {...}}    -> builds the models; see build_model for the options
  train  {batch_size}                    -> one SGD step on generated data; time_s, loss
  infer  {stream, batch_size, inputs?}   -> one forward pass; time_s, outputs [{class_index, score}]
  export_onnx {path, stream?}            -> writes the inference model as ONNX (dynamic batch)
  shutdown                               -> replies, then exits 0

Every minibatch is timed here with time.perf_counter(), after torch.cuda.synchronize() on CUDA,
so the time excludes the pipe and JSON and includes all queued GPU work.
"""
import json
import os
import sys
import time
import traceback

import torch
import torch.nn as nn


def log(msg):
    print(f"[fulcrum-worker {os.getpid()}] {msg}", file=sys.stderr, flush=True)


class SmallCnn(nn.Module):
    """A small CNN for 3xHxW images: two conv blocks and a linear head."""

    def __init__(self, classes=10, width=16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x):
        return self.head(self.features(x))


def build_model(spec):
    name = spec.get("model", "cnn")
    classes = int(spec.get("classes", 10))
    if name == "cnn":
        return SmallCnn(classes=classes, width=int(spec.get("width", 16)))
    if name == "resnet18":
        import torchvision  # only when asked for: Debian's python3-torch does not bring it

        return torchvision.models.resnet18(num_classes=classes)
    raise ValueError(f"unknown model {name!r} (known: cnn, resnet18)")


class Worker:
    def __init__(self):
        self.device = torch.device("cuda" if torch.cuda.is_available() and os.environ.get("FULCRUM_WORKER_DEVICE") != "cpu" else "cpu")
        threads = os.environ.get("FULCRUM_WORKER_THREADS")
        if threads:
            torch.set_num_threads(int(threads))
        self.train_spec = None
        self.model = None
        self.optimizer = None
        self.loss_fn = nn.CrossEntropyLoss()
        self.infer_models = {}
        self.infer_specs = {}
        self.generator = torch.Generator().manual_seed(0)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def shape(self, spec):
        return [int(v) for v in spec.get("input", [3, 32, 32])]

    def op_hello(self, req):
        return {
            "device": str(self.device),
            "cuda": self.device.type == "cuda",
            "torch": torch.__version__,
            "pid": os.getpid(),
            "threads": torch.get_num_threads(),
        }

    def op_init(self, req):
        torch.manual_seed(int(req.get("seed", 0)))
        train = req.get("train")
        if train:
            self.train_spec = train
            self.model = build_model(train).to(self.device).train()
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=float(train.get("lr", 0.01)), momentum=0.9)
        for stream, spec in (req.get("infer") or {}).items():
            self.infer_specs[stream] = spec
            self.infer_models[stream] = build_model(spec).to(self.device).eval()
        return {"train": bool(train), "streams": sorted(self.infer_models)}

    def op_train(self, req):
        if self.model is None:
            raise ValueError("train: no training model (send init with 'train' first)")
        b = int(req["batch_size"])
        classes = int(self.train_spec.get("classes", 10))
        x = torch.randn([b] + self.shape(self.train_spec), generator=self.generator).to(self.device)
        y = torch.randint(0, classes, (b,), generator=self.generator).to(self.device)
        self.sync()
        t0 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self.sync()
        t1 = time.perf_counter()
        return {"time_s": t1 - t0, "loss": float(loss.item())}

    def op_infer(self, req):
        stream = req.get("stream")
        model = self.infer_models.get(stream)
        if model is None:
            raise ValueError(f"infer: unknown stream {stream!r} (init knows {sorted(self.infer_models)})")
        spec = self.infer_specs[stream]
        inputs = req.get("inputs")
        b = int(req.get("batch_size") or (len(inputs) if inputs else 1))
        shape = self.shape(spec)
        if inputs and all(v is not None for v in inputs):
            x = torch.tensor(inputs, dtype=torch.float32).reshape([len(inputs)] + shape)
        else:
            x = torch.randn([b] + shape, generator=self.generator)
        x = x.to(self.device)
        self.sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = model(x)
            probs = torch.softmax(logits, dim=1)
            score, index = probs.max(dim=1)
        self.sync()
        t1 = time.perf_counter()
        outputs = [{"class_index": int(i), "score": float(s)} for i, s in zip(index.tolist(), score.tolist())]
        return {"time_s": t1 - t0, "outputs": outputs}

    def op_export_onnx(self, req):
        stream = req.get("stream")
        if stream is not None:
            model, spec = self.infer_models[stream], self.infer_specs[stream]
        else:
            spec = req.get("model_spec") or {"model": "cnn"}
            model = build_model(spec).eval()
        model = model.to("cpu").eval()
        dummy = torch.randn([1] + self.shape(spec))
        torch.onnx.export(
            model, dummy, req["path"], input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
        )
        model.to(self.device)
        return {"path": req["path"], "input": self.shape(spec)}


def main():
    # The protocol owns the original stdout; anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker()
    log(f"ready on {worker.device}, torch {torch.__version__}")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req_id = None
        try:
            req = json.loads(line)
            req_id = req.get("id")
            op = req.get("op")
            if op == "shutdown":
                out.write(json.dumps({"id": req_id, "ok": True}) + "\n")
                out.flush()
                return 0
            handler = getattr(worker, f"op_{op}", None)
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            reply = {"id": req_id, "ok": True}
            reply.update(handler(req))
        except Exception as exc:  # the worker answers every request; a bad one does not kill it
            log(traceback.format_exc())
            reply = {"id": req_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
