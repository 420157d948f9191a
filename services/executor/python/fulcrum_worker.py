#!/usr/bin/env python3
"""Fulcrum minibatch worker: a long-lived PyTorch process that drives one workload folder.

The workload folder (docs/WORKLOADS.md) holds fulcrum.yaml and a module defining
`class FulcrumWorkload` with setup(ctx), train_batch(b), train_step(batch), infer(inputs) and
optional state_dict()/load_state_dict(state). The runtime owns the loop; the workload owns one
step. The executor drives this process over stdio, one minibatch at a time.

Protocol: JSON lines. Each request on stdin is one object with an integer "id" and an "op"; each
reply on stdout is one object with the same "id" and "ok": true plus results, or "ok": false and
"error". stdout carries nothing else (prints from the workload go to stderr). One request at a
time.

ops:
  hello                                   -> device, torch version, pid, threads
  init {workload: {name, folder, module, manifest, kinds, hash}, seed, checkpoint?: {path,
        every_steps, every_s}}            -> imports the module, setup(ctx), loads the checkpoint;
                                             step, resumed (bool), checkpoint_error (str|null)
  train {batch_size}                      -> train_batch then train_step: time_s (the step, GPU
                                             synchronised), load_s (data loading), loss, step,
                                             metrics, checkpoint (saved this time: path) or null
  infer {batch_size, inputs?}             -> infer on inputs [b, *shape] (generated when absent, and
                                             per sample where some are null):
                                             time_s, outputs (one per sample)
  checkpoint                              -> saves now (if the workload has state_dict)
  shutdown                                -> saves a checkpoint if training ran since the last
                                             one, replies, exits 0

Every minibatch is timed here with time.perf_counter(), after torch.cuda.synchronize() on CUDA,
so the time excludes the pipe and JSON and includes all queued GPU work.
"""
import glob
import importlib.util
import json
import math
import os
import sys
import time
import traceback
import types

import numpy as np
import torch

CHECKPOINT_FORMAT = "fulcrum-checkpoint-1"
# A reply larger than this is refused: infer results should be small per sample.
MAX_REPLY_BYTES = 16 * 1024 * 1024
DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32, "uint8": np.uint8}


def log(msg):
    print(f"[fulcrum-worker {os.getpid()}] {msg}", file=sys.stderr, flush=True)


def to_json_value(value):
    """A per-sample result as JSON: tensors and arrays become lists, numbers stay numbers."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def per_sample(result, batch_size):
    """Splits infer's result into one JSON value per sample (checks there are batch_size)."""
    if isinstance(result, torch.Tensor):
        result = result.detach().float().cpu().numpy() if result.dtype in (torch.float16, torch.bfloat16) else result.detach().cpu().numpy()
    if isinstance(result, np.ndarray):
        if result.ndim == 0 or result.shape[0] != batch_size:
            raise ValueError(f"infer returned an array of shape {list(result.shape)} for a batch of {batch_size} (the first dimension must be the batch)")
        if result.ndim == 2 and np.issubdtype(result.dtype, np.floating):
            # [b, classes]: the arg-max class and its softmax probability per sample.
            shifted = result - result.max(axis=1, keepdims=True)
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
            index = result.argmax(axis=1)
            return [{"classIndex": int(i), "score": float(probs[k, i])} for k, i in enumerate(index)]
        return [to_json_value(row) for row in result]
    if isinstance(result, (list, tuple)):
        if len(result) != batch_size:
            raise ValueError(f"infer returned {len(result)} results for a batch of {batch_size}")
        return [to_json_value(r) for r in result]
    raise ValueError(f"infer returned a {type(result).__name__}; return a tensor, an array or a list with one result per sample")


class Worker:
    def __init__(self):
        want_cpu = os.environ.get("FULCRUM_WORKER_DEVICE") == "cpu"
        self.device = "cuda" if torch.cuda.is_available() and not want_cpu else "cpu"
        threads = os.environ.get("FULCRUM_WORKER_THREADS")
        if threads:
            torch.set_num_threads(int(threads))
        self.workload = None
        self.spec = None
        self.step = 0
        self.checkpoint = None
        self.last_saved_step = 0
        self.last_saved_at = time.monotonic()
        self.rng = np.random.default_rng(0)

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def op_hello(self, req):
        return {"device": self.device, "cuda": self.device == "cuda", "torch": torch.__version__, "pid": os.getpid(), "threads": torch.get_num_threads()}

    def op_init(self, req):
        spec = req["workload"]
        seed = int(req.get("seed", 0))
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        folder = spec["folder"]
        path = os.path.join(folder, spec.get("module") or "workload.py")
        if folder not in sys.path:
            sys.path.insert(0, folder)
        mod_name = "fulcrum_workload_" + "".join(c if c.isalnum() else "_" for c in spec["name"])
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
        cls = getattr(module, "FulcrumWorkload", None)
        if cls is None:
            raise ValueError(f"{path} defines no class FulcrumWorkload")
        kinds = set(spec.get("kinds") or ["train", "infer"])
        needed = (["train_batch", "train_step"] if "train" in kinds else []) + (["infer"] if "infer" in kinds else [])
        missing = [m for m in ["setup"] + needed if not callable(getattr(cls, m, None))]
        if missing:
            raise ValueError(f"{path}: FulcrumWorkload has no {', '.join(missing)}")
        ctx = types.SimpleNamespace(device=self.device, folder=folder, seed=seed, manifest=spec.get("manifest") or {}, kinds=kinds)
        self.workload = cls()
        self.workload.setup(ctx)
        self.spec = spec
        self.checkpoint = req.get("checkpoint") if "train" in kinds else None
        resumed, error = self.load_checkpoint()
        return {"name": spec["name"], "step": self.step, "resumed": resumed, "checkpoint_error": error, "checkpoints": self.checkpoints_enabled()}

    # ---- checkpoints -------------------------------------------------------------------------

    def checkpoints_enabled(self):
        return bool(self.checkpoint) and callable(getattr(self.workload, "state_dict", None))

    def load_checkpoint(self):
        """(resumed, error): a missing file starts fresh quietly; a bad one is set aside and reported."""
        if not self.checkpoints_enabled():
            return False, None
        path = self.checkpoint["path"]
        # A worker killed while saving leaves its temporary file behind: never read, removed here.
        for stale in glob.glob(glob.escape(path) + ".tmp-*"):
            try:
                os.remove(stale)
                log(f"removed {stale}, left by a worker stopped while saving")
            except OSError:
                pass
        if not os.path.exists(path):
            return False, None
        try:
            data = torch.load(path, map_location=self.device)
            if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
                raise ValueError("not a Fulcrum checkpoint")
            if not callable(getattr(self.workload, "load_state_dict", None)):
                raise ValueError("the workload has state_dict but no load_state_dict")
            self.workload.load_state_dict(data["state"])
            self.step = int(data["step"])
            self.last_saved_step = self.step
            log(f"resumed {self.spec['name']} from {path} at step {self.step}")
            return True, None
        except Exception as exc:  # corrupt, truncated, or from another version: fresh start, said out loud
            aside = f"{path}.corrupt-{int(time.time())}"
            try:
                os.replace(path, aside)
            except OSError:
                aside = None
            message = f"checkpoint {path} could not be loaded ({type(exc).__name__}: {exc}); training starts fresh" + (f"; the file was moved to {aside}" if aside else "")
            log(message)
            self.step = 0
            return False, message

    def save_checkpoint(self):
        if not self.checkpoints_enabled():
            return None
        path = self.checkpoint["path"]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        data = {"format": CHECKPOINT_FORMAT, "workload": self.spec["name"], "hash": self.spec.get("hash"), "step": self.step, "saved_at": time.time(), "state": self.workload.state_dict()}
        with open(tmp, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one, never half
        self.last_saved_step = self.step
        self.last_saved_at = time.monotonic()
        return path

    def checkpoint_due(self):
        if not self.checkpoints_enabled() or self.step == self.last_saved_step:
            return False
        every_steps = int(self.checkpoint.get("every_steps") or 0)
        every_s = float(self.checkpoint.get("every_s") or 0)
        if every_steps > 0 and self.step - self.last_saved_step >= every_steps:
            return True
        return every_s > 0 and time.monotonic() - self.last_saved_at >= every_s

    # ---- minibatches -------------------------------------------------------------------------

    def require(self, kind):
        if self.workload is None:
            raise ValueError("no workload (send init first)")
        if kind not in (self.spec.get("kinds") or ["train", "infer"]):
            raise ValueError(f"workload {self.spec['name']} is not set up for {kind} (its manifest has no {kind}: section)")

    def op_train(self, req):
        self.require("train")
        b = int(req["batch_size"])
        t0 = time.perf_counter()
        batch = self.workload.train_batch(b)
        self.sync()
        t1 = time.perf_counter()
        result = self.workload.train_step(batch)
        self.sync()
        t2 = time.perf_counter()
        if not isinstance(result, dict) or "loss" not in result:
            raise ValueError("train_step must return a dict with 'loss'")
        self.step += 1
        metrics = {}
        for k, v in result.items():
            if isinstance(v, torch.Tensor):
                v = v.detach().float().cpu().item() if v.numel() == 1 else None
            if isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(float(v)):
                metrics[str(k)] = float(v)
        saved = self.save_checkpoint() if self.checkpoint_due() else None
        return {"time_s": t2 - t1, "load_s": t1 - t0, "loss": metrics.get("loss"), "step": self.step, "metrics": metrics, "checkpoint": saved}

    def make_inputs(self, b):
        infer = (self.spec.get("manifest") or {}).get("infer") or {}
        spec = infer.get("input") or {}
        shape = [int(v) for v in spec.get("shape") or [3, 32, 32]]
        dtype = spec.get("dtype") or "float32"
        sample = getattr(self.workload, "sample_inputs", None)
        if callable(sample):
            return sample(b)
        if dtype in ("float32", "float16"):
            return self.rng.standard_normal([b] + shape).astype(DTYPES[dtype])
        return self.rng.integers(0, 100, size=[b] + shape).astype(DTYPES[dtype])

    def fill_missing(self, x, given, b):
        """A [b, *shape] batch: x's rows at the indices `given`, generated samples everywhere else."""
        generated = self.make_inputs(b - len(given))
        if isinstance(generated, torch.Tensor):
            generated = generated.detach().cpu().numpy()
        if not isinstance(generated, np.ndarray):
            raise ValueError("sample_inputs must return an array or tensor [b, *shape] to fill the requests of a minibatch that came without an input")
        if tuple(generated.shape[1:]) != tuple(x.shape[1:]):
            # Without infer.input.shape the given samples arrive flat: take the generated samples' shape
            # (what the workload's sample_inputs, or the default, says one sample is) when the sizes agree.
            if int(np.prod(generated.shape[1:])) != int(np.prod(x.shape[1:])):
                raise ValueError(f"the given inputs have shape {list(x.shape[1:])} but generated samples {list(generated.shape[1:])}; give infer.input.shape in fulcrum.yaml")
            x = x.reshape((x.shape[0],) + tuple(generated.shape[1:]))
        batch = np.empty((b,) + tuple(x.shape[1:]), dtype=x.dtype)
        have = set(given)
        missing = [i for i in range(b) if i not in have]
        batch[given] = x
        batch[missing] = generated.astype(x.dtype, copy=False)
        return batch

    def op_infer(self, req):
        self.require("infer")
        inputs = req.get("inputs")
        b = int(req.get("batch_size") or (len(inputs) if inputs else 1))
        given = [i for i, v in enumerate(inputs or []) if v is not None]
        # Per sample, why its input cannot be fed (it then runs on a generated sample and its request
        # alone fails: the minibatch keeps its size and the other requests get their results).
        invalid = [None] * len(inputs or [])
        if given:
            infer = (self.spec.get("manifest") or {}).get("infer") or {}
            spec = infer.get("input") or {}
            dtype = DTYPES.get(spec.get("dtype") or "float32", np.float32)
            # The size one sample must have: the manifest's shape's (without one, the workload decides).
            want = int(np.prod(spec["shape"])) if spec.get("shape") else None
            rows = {}
            for i in given:
                try:
                    row = np.asarray(inputs[i], dtype=dtype)
                except (TypeError, ValueError) as e:
                    invalid[i] = f"input is not an array of numbers: {e}"
                    continue
                if want is not None and row.size != want:
                    invalid[i] = f"input has {row.size} values, expected {want} (shape {spec['shape']})"
                    continue
                rows[i] = row
            given = [i for i in given if invalid[i] is None]
            b = len(inputs)
        if given:
            if spec.get("shape"):
                x = np.stack([rows[i].reshape(-1) for i in given]).reshape([len(given)] + [int(v) for v in spec["shape"]])
            else:
                try:
                    x = np.stack([rows[i] for i in given])
                except ValueError as e:
                    raise ValueError(f"the inputs of one minibatch have different shapes ({e}); give infer.input.shape in fulcrum.yaml")
            if len(given) < b:
                # Requests without an input share the minibatch: each gets a generated sample, and each
                # given input is still answered on itself (not replaced by generated data).
                x = self.fill_missing(x, given, b)
        else:
            x = self.make_inputs(b)
        self.sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            result = self.workload.infer(x)
        self.sync()
        t1 = time.perf_counter()
        reply = {"time_s": t1 - t0, "outputs": per_sample(result, b)}
        if any(v is not None for v in invalid):
            reply["invalid"] = invalid
        return reply

    def op_checkpoint(self, req):
        return {"path": self.save_checkpoint(), "step": self.step}

    def on_shutdown(self):
        if self.workload is not None and self.checkpoints_enabled() and self.step != self.last_saved_step:
            path = self.save_checkpoint()
            log(f"saved checkpoint {path} at step {self.step}")


def main():
    # The protocol owns the original stdout; anything the workload prints goes to stderr instead.
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
                try:
                    worker.on_shutdown()
                except Exception:
                    log(traceback.format_exc())
                out.write(json.dumps({"id": req_id, "ok": True}) + "\n")
                out.flush()
                return 0
            handler = getattr(worker, f"op_{op}", None)
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            reply = {"id": req_id, "ok": True}
            reply.update(handler(req))
            text = json.dumps(reply)
            if len(text) > MAX_REPLY_BYTES:
                raise ValueError(f"the reply to {op} is {len(text)} bytes, over the {MAX_REPLY_BYTES}-byte limit (return smaller per-sample results)")
        except Exception as exc:  # the worker answers every request; a bad one does not kill it
            log(traceback.format_exc())
            text = json.dumps({"id": req_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        out.write(text + "\n")
        out.flush()
    worker.on_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
