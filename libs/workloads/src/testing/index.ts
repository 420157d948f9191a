/**
 * @fulcrum/workloads/testing — writes small workload folders of a test's own (not a built-in, not an
 * example): a tiny PyTorch MLP on data generated in code, optionally with an ONNX export of it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TinyWorkloadOptions {
  /** The manifest's name. */
  readonly name: string;
  /** Features per sample (the input shape is [features]). Default 16. */
  readonly features?: number;
  readonly classes?: number;
  /** Include a train: section (default true). */
  readonly train?: boolean;
  /** Include an infer: section (default true). */
  readonly infer?: boolean;
  /** Seconds train_batch sleeps (a slow data loader). Default 0. */
  readonly loadDelayS?: number;
  /** Extra manifest lines (YAML, appended). */
  readonly extraManifest?: string;
  /** Write a cost: section (for the virtual board). Default true. */
  readonly cost?: boolean;
}

/** The module of the tiny workload: an MLP classifier learning a fixed linear rule from generated data. */
export const TINY_WORKLOAD_PY = `"""A tiny test workload: an MLP learning a fixed linear rule on generated data."""
import time

import numpy as np
import torch
import torch.nn as nn


def build(features, classes):
    return nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, classes))


class FulcrumWorkload:
    def setup(self, ctx):
        m = ctx.manifest
        self.features = int(m["infer"]["input"]["shape"][0]) if "infer" in m else int(m.get("x_features", 16))
        self.classes = int(m.get("x_classes", 4))
        self.load_delay_s = float(m.get("x_load_delay_s", 0))
        self.device = ctx.device
        g = torch.Generator().manual_seed(1234)
        self.rule = torch.randn(self.features, self.classes, generator=g)
        self.gen = torch.Generator().manual_seed(ctx.seed)
        torch.manual_seed(ctx.seed)
        self.model = build(self.features, self.classes).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        self.loss_fn = nn.CrossEntropyLoss()

    def train_batch(self, batch_size):
        if self.load_delay_s:
            time.sleep(self.load_delay_s)
        x = torch.randn(batch_size, self.features, generator=self.gen)
        y = (x @ self.rule).argmax(dim=1)
        return x.to(self.device), y.to(self.device)

    def train_step(self, batch):
        x, y = batch
        self.model.train()
        self.opt.zero_grad()
        out = self.model(x)
        loss = self.loss_fn(out, y)
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.item()), "accuracy": float((out.argmax(1) == y).float().mean().item())}

    def infer(self, inputs):
        self.model.eval()
        return self.model(torch.as_tensor(np.asarray(inputs, dtype=np.float32), device=self.device))

    def state_dict(self):
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
`;

/** Writes the tiny workload folder at `dir` (created) and returns `dir`. */
export function writeTinyWorkload(dir: string, options: TinyWorkloadOptions): string {
  const features = options.features ?? 16;
  mkdirSync(dir, { recursive: true });
  const lines = [`name: ${options.name}`, `description: a tiny MLP written by a test`];
  if (options.train !== false) lines.push('train:', '  batch_size: 16');
  if (options.infer !== false) lines.push('infer:', '  batch_sizes: [1, 2, 4, 8]', '  input:', `    shape: [${features}]`, '    dtype: float32');
  if (options.cost !== false) lines.push('cost:', `  flops_per_sample: ${2 * (features * 32 + 32 * (options.classes ?? 4))}`, `  bytes_per_sample: ${4 * (features + 32 + (options.classes ?? 4))}`, `  param_bytes: ${4 * (features * 32 + 32 + 32 * (options.classes ?? 4) + (options.classes ?? 4))}`);
  if (options.extraManifest) lines.push(options.extraManifest);
  writeFileSync(join(dir, 'fulcrum.yaml'), lines.join('\n') + '\n');
  // Settings the module reads from ctx.manifest ride in the module itself, so the manifest stays strict.
  let py = TINY_WORKLOAD_PY;
  if (options.loadDelayS) py = py.replace('float(m.get("x_load_delay_s", 0))', String(options.loadDelayS));
  if (options.classes) py = py.replace('int(m.get("x_classes", 4))', String(options.classes));
  if (options.infer === false) py = py.replace('int(m.get("x_features", 16))', String(features));
  writeFileSync(join(dir, 'workload.py'), py);
  return dir;
}

/** Python that exports the tiny workload's model (fresh weights) as ONNX; `dynamicBatch: false` fixes batch 1. */
/**
 * A Python script exporting a tiny two-input text classifier (`input_ids`, `attention_mask`, int64,
 * [batch, length]; a vocabulary of 100) to `path`: a model with several inputs, as language models
 * have. `dynamicLength`: the length axis symbolic too (then the manifest's infer.input.shape gives it).
 */
export function tinyTwoInputOnnxExportScript(path: string, options: { length?: number; dynamicLength?: boolean } = {}): string {
  const n = options.length ?? 6;
  const axes = options.dynamicLength ? "{0: 'batch', 1: 'length'}" : "{0: 'batch'}";
  return [
    'import torch, torch.nn as nn',
    'class M(nn.Module):',
    '    def __init__(self):',
    '        super().__init__()',
    '        torch.manual_seed(0)',
    '        self.emb = nn.Embedding(100, 8)',
    '        self.fc = nn.Linear(8, 3)',
    '    def forward(self, input_ids, attention_mask):',
    '        m = attention_mask.unsqueeze(-1).float()',
    '        return self.fc((self.emb(input_ids) * m).sum(1) / m.sum(1).clamp(min=1.0))',
    `ids = torch.zeros(1, ${n}, dtype=torch.long)`,
    `torch.onnx.export(M().eval(), (ids, torch.ones(1, ${n}, dtype=torch.long)), ${JSON.stringify(path)}, input_names=['input_ids', 'attention_mask'], output_names=['logits'], dynamic_axes={'input_ids': ${axes}, 'attention_mask': ${axes}, 'logits': {0: 'batch'}}, opset_version=13)`,
  ].join('\n');
}

export function tinyOnnxExportScript(path: string, options: { features?: number; classes?: number; dynamicBatch?: boolean } = {}): string {
  const f = options.features ?? 16;
  const c = options.classes ?? 4;
  const dyn = options.dynamicBatch === false ? 'None' : "{'input': {0: 'batch'}, 'logits': {0: 'batch'}}";
  return [
    'import torch, torch.nn as nn',
    `m = nn.Sequential(nn.Linear(${f}, 32), nn.ReLU(), nn.Linear(32, ${c})).eval()`,
    `torch.onnx.export(m, torch.randn(1, ${f}), ${JSON.stringify(path)}, input_names=['input'], output_names=['logits'], dynamic_axes=${dyn}, opset_version=13)`,
  ].join('\n');
}
