// Real workers: PyTorch in the Python worker (/usr/bin/python3 or FULCRUM_PYTHON) and
// onnxruntime-node on a model the worker exports. Tiny models, a few minibatches.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerCrashedError, InferenceError } from '../errors.js';
import { Executor, type InferOutcome } from '../executor.js';
import { composeRunners } from './compose.js';
import { OnnxRunner } from './onnx.js';
import { PythonWorker } from './python.js';
import type { ExecutorEvent } from '../types.js';

const tiny = { model: 'cnn', input: [3, 16, 16], width: 4, classes: 5 };
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-workers-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('PythonWorker (real PyTorch)', () => {
  it('trains and infers, timing each minibatch itself; a bad request is an error, not a crash', async () => {
    const worker = new PythonWorker({ train: tiny, infer: { cam: tiny }, threads: 1 });
    try {
      const info = await worker.start();
      assert.equal(info.cuda, info.device.startsWith('cuda'));
      const a = await worker.runTraining(8);
      const b = await worker.runTraining(8);
      assert.ok(a.timeS > 0 && b.timeS > 0);
      assert.ok(Number.isFinite(a.loss));
      const r = await worker.runInference('cam', [undefined, undefined, undefined]);
      assert.equal(r.outputs.length, 3);
      const out = r.outputs[0] as { class_index: number; score: number };
      assert.ok(out.class_index >= 0 && out.class_index < 5 && out.score > 0 && out.score <= 1);
      const given = await worker.runInference('cam', [new Float32Array(3 * 16 * 16).fill(0.1)]);
      assert.equal(given.outputs.length, 1);
      await assert.rejects(worker.runInference('nope', [undefined]), /unknown stream/);
      assert.equal(worker.starts, 1);
    } finally {
      await worker.close();
    }
  });

  it('a killed worker fails the call in flight with WorkerCrashedError, is reported, and restarts', async () => {
    const crashes: string[] = [];
    const worker = new PythonWorker({ train: tiny, threads: 1, onCrash: (e) => crashes.push(e.message) });
    try {
      await worker.start();
      const firstPid = worker.pid;
      const inFlight = worker.runTraining(8);
      worker.kill('SIGKILL');
      await assert.rejects(inFlight, (err) => err instanceof WorkerCrashedError && /SIGKILL/.test(err.message));
      assert.equal(crashes.length, 1);
      const again = await worker.runTraining(8);
      assert.ok(again.timeS > 0);
      assert.equal(worker.starts, 2);
      assert.notEqual(worker.pid, firstPid);
    } finally {
      await worker.close();
    }
  });
});

describe('OnnxRunner (onnxruntime-node on a model exported by the worker)', () => {
  it('runs batches of any size and agrees with PyTorch on the class', async () => {
    const worker = new PythonWorker({ infer: { cam: tiny }, threads: 1 });
    const path = join(dir, 'cam.onnx');
    try {
      await worker.exportOnnx(path, { stream: 'cam' });
      assert.ok(existsSync(path));
      const onnx = await OnnxRunner.create({ models: { cam: { path, inputShape: [3, 16, 16] } } });
      try {
        const x = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.sin(i));
        const [o1, o4] = [await onnx.runInference('cam', [x]), await onnx.runInference('cam', [x, undefined, undefined, x])];
        assert.equal(o1.outputs.length, 1);
        assert.equal(o4.outputs.length, 4);
        const torch = await worker.runInference('cam', [x]);
        const t = torch.outputs[0] as { class_index: number; score: number };
        const o = o1.outputs[0] as { classIndex: number; score: number };
        assert.equal(o.classIndex, t.class_index);
        assert.ok(Math.abs(o.score - t.score) < 1e-4);
        assert.deepEqual(o4.outputs[0], o4.outputs[3]);
      } finally {
        await onnx.close();
      }
    } finally {
      await worker.close();
    }
  });
});

describe('Executor on real workers (PyTorch training + ONNX inference)', () => {
  it('answers every request, and a worker crash mid-run gives explicit errors, then training resumes', async () => {
    const path = join(dir, 'run.onnx');
    const trainer = new PythonWorker({ train: tiny, infer: { cam: tiny }, threads: 1 });
    await trainer.exportOnnx(path, { stream: 'cam' });
    const onnx = await OnnxRunner.create({ models: { cam: { path, inputShape: [3, 16, 16] } } });
    const runner = composeRunners({ training: trainer, inference: onnx });
    const events: ExecutorEvent[] = [];
    const executor = new Executor({
      runner,
      problem: { trainBatchSize: 8, streams: [{ name: 'cam', arrivalRatePerS: 50, latencyBudgetS: 1 }] },
      plan: { planId: 'real', batchSizes: { cam: 4 } },
      events: { publish: (e) => events.push(e) },
    });
    executor.start();
    const answers: Promise<InferOutcome>[] = [];
    for (let i = 0; i < 40; i++) {
      answers.push(executor.infer('cam'));
      if (i === 20) trainer.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 10));
    }
    const status = await executor.stop();
    const settled = await Promise.allSettled(answers);
    await runner.close();
    // Inference runs on onnxruntime, so the crash hits training only: every request has a result.
    for (const s of settled) {
      if (s.status === 'rejected') assert.fail(s.reason instanceof InferenceError ? `${s.reason.code}: ${s.reason.message}` : String(s.reason));
    }
    const ok = settled.filter((s): s is PromiseFulfilledResult<InferOutcome> => s.status === 'fulfilled').map((s) => s.value);
    assert.equal(ok.length, 40);
    assert.equal(status.streams[0]!.accepted, 40);
    assert.equal(status.streams[0]!.completed, 40);
    for (const r of ok) assert.ok(r.latencyS >= r.queueS && r.latencyS >= r.minibatchTimeS);
    assert.ok(status.trainMinibatchesTotal > 0);
    assert.ok(trainer.crashes <= 1);
    if (trainer.crashes === 1) assert.ok(events.some((e) => e.type === 'worker.crashed'));
  });
});
