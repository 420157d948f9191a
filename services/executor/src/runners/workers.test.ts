// Real workers on a workload folder this test writes itself: PyTorch in the Python worker
// (/usr/bin/python3 or FULCRUM_PYTHON) importing its workload.py, and onnxruntime-node on an ONNX
// file exported in the test. Tiny models, a few minibatches.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWorkloadFolder } from '@fulcrum/workloads';
import { tinyOnnxExportScript, tinyTwoInputOnnxExportScript, writeTinyWorkload } from '@fulcrum/workloads/testing';
import { WorkerCrashedError, InferenceError } from '../errors.js';
import { Executor, type InferOutcome } from '../executor.js';
import { composeRunners } from './compose.js';
import { OnnxModelError, OnnxRunner } from './onnx.js';
import { PythonWorker, defaultPython, workerWorkloadOf } from './python.js';
import type { ExecutorEvent } from '../types.js';

let dir: string;
let tiny: ReturnType<typeof workerWorkloadOf>;

function exportOnnx(path: string, options: { dynamicBatch?: boolean } = {}): string {
  execFileSync(defaultPython(), ['-c', tinyOnnxExportScript(path, options)], { stdio: ['ignore', 'ignore', 'pipe'] });
  return path;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-workers-'));
  tiny = workerWorkloadOf(loadWorkloadFolder(writeTinyWorkload(join(dir, 'tiny'), { name: 'tiny' })));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('PythonWorker (real PyTorch, a workload folder)', () => {
  it("runs the folder's train_batch + train_step and infer, timing each itself; a bad request is an error, not a crash", async () => {
    const worker = new PythonWorker({ workload: tiny, threads: 1 });
    try {
      const info = await worker.start();
      assert.equal(info.cuda, info.device.startsWith('cuda'));
      assert.equal(info.step, 0);
      const a = await worker.runTraining(8);
      const b = await worker.runTraining(8);
      assert.ok(a.timeS > 0 && b.timeS > 0);
      assert.ok(Number.isFinite(a.loss));
      assert.equal(b.step, 2);
      assert.ok(b.metrics && Number.isFinite(b.metrics['accuracy']), 'train_step metrics besides the loss come back');
      const r = await worker.runInference('cam', [undefined, undefined, undefined]);
      assert.equal(r.outputs.length, 3);
      const out = r.outputs[0] as { classIndex: number; score: number };
      assert.ok(out.classIndex >= 0 && out.classIndex < 4 && out.score > 0 && out.score <= 1);
      const given = await worker.runInference('cam', [new Float32Array(16).fill(0.1)]);
      assert.equal(given.outputs.length, 1);
      // A batch mixing requests with and without an input (a NATS or gRPC request may leave it out):
      // each given input is answered on itself, only the missing ones are generated (as onnxruntime does).
      const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i));
      const alone = (await worker.runInference('cam', [x])).outputs[0] as { classIndex: number; score: number };
      const mixed = (await worker.runInference('cam', [x, undefined, undefined, x])).outputs as { classIndex: number; score: number }[];
      assert.equal(mixed.length, 4);
      for (const o of [mixed[0]!, mixed[3]!]) {
        assert.equal(o.classIndex, alone.classIndex);
        assert.ok(Math.abs(o.score - alone.score) < 1e-5, `score ${o.score} on the given input, ${alone.score} alone`);
      }
      // A sample of the wrong size, or not numbers, is refused alone: the others get their results.
      const bad = await worker.runInference('cam', [x, new Float32Array(5), ['a', 'b']]);
      assert.equal(bad.outputs.length, 3);
      assert.deepEqual(bad.outputs[0], alone);
      assert.equal(bad.invalid?.[0], undefined);
      assert.equal(bad.invalid?.[1], 'input has 5 values, expected 16 (shape [16])');
      assert.match(bad.invalid?.[2] ?? '', /^input is not an array of numbers/);
      assert.equal((await worker.runInference('cam', [x])).invalid, undefined);
      // An input that is no array (an object by input name, a string, a number) is refused, not served as absent.
      const odd = await worker.runInference('cam', [{ input: Array.from(x) }, x, 'abc', 3]);
      assert.equal(odd.outputs.length, 4);
      assert.deepEqual(odd.outputs[1], alone);
      assert.deepEqual(odd.invalid?.map((e) => e?.replace(/ \(got .*$/, '')), ['input is not an array of numbers', undefined, 'input is not an array of numbers', 'input is not an array of numbers']);
      assert.match(odd.invalid?.[0] ?? '', /got an object/);
      // NaN in a typed array is refused as the ONNX runner refuses it (JSON would send it as null).
      const nan = await worker.runInference('cam', [Float32Array.from(x, (v, i) => (i === 3 ? Number.NaN : v)), x]);
      assert.deepEqual(nan.invalid, ['input is not an array of numbers (value 3 is NaN)', undefined]);
      assert.deepEqual(nan.outputs[1], alone);
      assert.equal(worker.starts, 1);
    } finally {
      await worker.close();
    }
  });

  it("a minibatch mixing given (flat) and missing inputs of a workload without infer.input.shape takes its sample_inputs' shape", async () => {
    const folder = join(dir, 'shaped');
    execFileSync('mkdir', ['-p', folder]);
    writeFileSync(join(folder, 'fulcrum.yaml'), 'name: shaped\ninfer:\n  batch_sizes: [1, 2, 4]\n');
    writeFileSync(
      join(folder, 'workload.py'),
      [
        'import numpy as np',
        'import torch',
        '',
        'class FulcrumWorkload:',
        '    def setup(self, ctx):',
        '        self.w = torch.arange(16, dtype=torch.float32)',
        '',
        '    def sample_inputs(self, b):',
        '        return np.zeros((b, 4, 4), dtype=np.float32)',
        '',
        '    def infer(self, inputs):',
        '        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32))',
        '        if x.dim() != 3:',
        '            raise ValueError(f"want [b, 4, 4], got {list(x.shape)}")',
        '        return (x.reshape(x.shape[0], -1) @ self.w).tolist()',
        '',
      ].join('\n'),
    );
    const worker = new PythonWorker({ workload: workerWorkloadOf(loadWorkloadFolder(folder)), threads: 1 });
    try {
      const ones = new Float32Array(16).fill(1);
      const r = await worker.runInference('cam', [ones, undefined]);
      // The given sample answered on itself (Σ 0…15 = 120), the missing one generated (zeros).
      assert.deepEqual(r.outputs, [120, 0]);
    } finally {
      await worker.close();
    }
  });

  it('times data loading apart from the step: a slow loader shows in loadS, not in timeS', async () => {
    const slow = workerWorkloadOf(loadWorkloadFolder(writeTinyWorkload(join(dir, 'slow'), { name: 'slow', loadDelayS: 0.2 })));
    const worker = new PythonWorker({ workload: slow, threads: 1 });
    try {
      const r = await worker.runTraining(8);
      assert.ok(r.loadS! >= 0.2, `loadS ${r.loadS}`);
      assert.ok(r.timeS < 0.2, `timeS ${r.timeS} excludes the loader`);
    } finally {
      await worker.close();
    }
  });

  it('a module without FulcrumWorkload, or an inference-only folder asked to train, is refused with a clear message', async () => {
    const broken = join(dir, 'broken');
    writeTinyWorkload(broken, { name: 'broken' });
    writeFileSync(join(broken, 'workload.py'), 'class SomethingElse:\n    pass\n');
    const w1 = new PythonWorker({ workload: workerWorkloadOf(loadWorkloadFolder(broken)), threads: 1 });
    await assert.rejects(w1.start(), /defines no class FulcrumWorkload/);
    await w1.close();
    const serveOnly = workerWorkloadOf(loadWorkloadFolder(writeTinyWorkload(join(dir, 'serve-only'), { name: 'serve-only', train: false })));
    const w2 = new PythonWorker({ workload: serveOnly, threads: 1 });
    try {
      await assert.rejects(w2.runTraining(4), /is not set up for train/);
      assert.equal((await w2.runInference('x', [undefined])).outputs.length, 1);
    } finally {
      await w2.close();
    }
  });

  it('a killed worker fails the call in flight with WorkerCrashedError, restarts, and resumes from its last checkpoint', async () => {
    const crashes: string[] = [];
    const cp = join(dir, 'cp', 'tiny.pt');
    const worker = new PythonWorker({ workload: tiny, threads: 1, checkpoint: { path: cp, everySteps: 3 }, onCrash: (e) => crashes.push(e.message) });
    try {
      await worker.start();
      const firstPid = worker.pid;
      for (let i = 0; i < 7; i++) await worker.runTraining(8); // checkpoints at steps 3 and 6
      assert.ok(existsSync(cp));
      assert.deepEqual(readdirSync(join(dir, 'cp')), ['tiny.pt'], 'no temporary file left beside it');
      const inFlight = worker.runTraining(8);
      worker.kill('SIGKILL');
      await assert.rejects(inFlight, (err) => err instanceof WorkerCrashedError && /SIGKILL/.test(err.message));
      assert.equal(crashes.length, 1);
      const again = await worker.runTraining(8);
      assert.equal(worker.info!.resumed, true);
      assert.equal(worker.info!.step, 6, 'resumed at the last checkpoint');
      assert.equal(again.step, 7);
      assert.equal(worker.starts, 2);
      assert.notEqual(worker.pid, firstPid);
    } finally {
      await worker.close();
    }
    // A clean stop saves: a new worker starts where the last one stopped.
    const next = new PythonWorker({ workload: tiny, threads: 1, checkpoint: { path: cp, everySteps: 1000 } });
    try {
      assert.equal((await next.start()).step, 7);
    } finally {
      await next.close();
    }
  });

  it('a corrupt checkpoint is reported, set aside, and training starts fresh', async () => {
    const cp = join(dir, 'corrupt', 'tiny.pt');
    execFileSync('mkdir', ['-p', join(dir, 'corrupt')]);
    writeFileSync(cp, 'this is not a checkpoint');
    const worker = new PythonWorker({ workload: tiny, threads: 1, checkpoint: { path: cp, everySteps: 1 } });
    try {
      const info = await worker.start();
      assert.equal(info.resumed, false);
      assert.equal(info.step, 0);
      assert.match(info.checkpointError ?? '', /could not be loaded.*starts fresh.*moved to/);
      assert.ok(readdirSync(join(dir, 'corrupt')).some((f) => f.startsWith('tiny.pt.corrupt-')));
      assert.equal((await worker.runTraining(4)).step, 1);
    } finally {
      await worker.close();
    }
  });
});

describe('OnnxRunner (onnxruntime-node on any model file)', () => {
  it("reads the input's name, shape and dtype from the model, runs batches of any size", async () => {
    const path = exportOnnx(join(dir, 'tiny.onnx'));
    const onnx = await OnnxRunner.create({ models: { cam: { path } } });
    try {
      assert.deepEqual(onnx.model('cam'), { inputName: 'input', inputShape: [16], inputType: 'float32', outputNames: ['logits'] });
      const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i));
      const [o1, o4] = [await onnx.runInference('cam', [x]), await onnx.runInference('cam', [x, undefined, undefined, x])];
      assert.equal(o1.outputs.length, 1);
      assert.equal(o4.outputs.length, 4);
      assert.deepEqual(o4.outputs[0], o4.outputs[3]);
      assert.deepEqual(o1.outputs[0], o4.outputs[0]);
      // A sample of the wrong size is refused alone: it runs on a generated one, the others get their results.
      const bad = await onnx.runInference('cam', [x, new Float32Array(3)]);
      assert.equal(bad.outputs.length, 2);
      assert.deepEqual(bad.outputs[0], o1.outputs[0]);
      assert.deepEqual(bad.invalid, [undefined, 'input has 3 values, expected 16 (shape [16])']);
      assert.equal((await onnx.runInference('cam', [x])).invalid, undefined);
      // Values that are not numbers, or an input that is no array or object, are refused too (not fed as NaN, not served as absent).
      const words = Array.from(x, (v, i) => (i === 5 ? 'five' : v));
      const nan = Float32Array.from(x, (v, i) => (i === 2 ? Number.NaN : v));
      const odd = await onnx.runInference('cam', [words, 7, x, nan]);
      assert.deepEqual(odd.outputs[2], o1.outputs[0]);
      assert.deepEqual(odd.invalid, ['input is not an array of numbers (value 5 is a string)', 'input is not an array of numbers (got a number); give one array per sample, or an object of arrays by input name', undefined, 'input is not an array of numbers (value 2 is NaN)']);
    } finally {
      await onnx.close();
    }
  });

  it('refuses a model without a dynamic batch dimension, and a file that is not a model, naming the file', async () => {
    const fixed = exportOnnx(join(dir, 'fixed.onnx'), { dynamicBatch: false });
    await assert.rejects(OnnxRunner.create({ models: { cam: { path: fixed } } }), (err) => err instanceof OnnxModelError && /fixed\.onnx: input "input" has a fixed batch dimension 1.*dynamic_axes/.test(err.message));
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'not a model');
    await assert.rejects(OnnxRunner.create({ models: { cam: { path: junk } } }), (err) => err instanceof OnnxModelError && /junk\.onnx: onnxruntime could not load it/.test(err.message));
    await assert.rejects(OnnxRunner.create({ models: { cam: { path: exportOnnx(join(dir, 'shape.onnx')), inputShape: [8] } } }), /dimension 1 is 16, but the manifest's infer.input.shape says 8/);
  });
});

describe('OnnxRunner on a model with several inputs (a language model\'s ids and mask)', () => {
  it('feeds every input: a sample names its inputs, leaves some out, or is the first input alone; unknown names are refused', async () => {
    const path = join(dir, 'two-inputs.onnx');
    execFileSync(defaultPython(), ['-c', tinyTwoInputOnnxExportScript(path)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const onnx = await OnnxRunner.create({ models: { text: { path } } });
    try {
      const info = onnx.model('text')!;
      assert.equal(info.inputName, 'input_ids');
      assert.deepEqual(info.inputs, [
        { name: 'input_ids', shape: [6], type: 'int64' },
        { name: 'attention_mask', shape: [6], type: 'int64' },
      ]);
      const masked = { input_ids: [5, 9, 7, 42, 42, 42], attention_mask: [1, 1, 1, 0, 0, 0] };
      const open = { input_ids: [5, 9, 7, 42, 42, 42], attention_mask: [1, 1, 1, 1, 1, 1] };
      const r = await onnx.runInference('text', [masked, undefined, open, [5, 9, 7, 42, 42, 42], { input_ids: [5, 9, 7, 42, 42, 42] }]);
      assert.equal(r.outputs.length, 5);
      // The mask is fed: the padded tokens change the answer only where the mask lets them in.
      const score = (o: unknown) => (o as { score: number }).score;
      assert.notEqual(score(r.outputs[0]), score(r.outputs[2]));
      // An array is the first input; a mask left out is generated as ones (every token in).
      assert.ok(Math.abs(score(r.outputs[3]) - score(r.outputs[2])) < 1e-6);
      assert.ok(Math.abs(score(r.outputs[4]) - score(r.outputs[2])) < 1e-6);
      const again = await onnx.runInference('text', [masked]);
      assert.ok(Math.abs(score(again.outputs[0]) - score(r.outputs[0])) < 1e-6, 'the same sample, the same answer');
      const refused = await onnx.runInference('text', [{ input_ids: [1, 2, 3, 4, 5, 6], token_type_ids: [0, 0, 0, 0, 0, 0] }, { attention_mask: [1, 1] }, masked]);
      assert.deepEqual(refused.invalid, ['input names "token_type_ids"; the model\'s inputs are "input_ids", "attention_mask"', 'input "attention_mask" has 2 values, expected 6 (shape [6])', undefined]);
      assert.ok(Math.abs(score(refused.outputs[2]) - score(r.outputs[0])) < 1e-6, 'the good sample of the batch is answered on itself');
    } finally {
      await onnx.close();
    }
    // A length left symbolic in the model is the manifest's infer.input.shape, for every input of that rank.
    const dynamic = join(dir, 'two-inputs-dynamic.onnx');
    execFileSync(defaultPython(), ['-c', tinyTwoInputOnnxExportScript(dynamic, { dynamicLength: true })], { stdio: ['ignore', 'ignore', 'pipe'] });
    await assert.rejects(OnnxRunner.create({ models: { text: { path: dynamic } } }), /input "input_ids" dimension 1 is symbolic/);
    const shaped = await OnnxRunner.create({ models: { text: { path: dynamic, inputShape: [10] } } });
    try {
      assert.deepEqual(shaped.model('text')!.inputs!.map((i) => i.shape), [[10], [10]]);
      assert.equal((await shaped.runInference('text', [undefined, { input_ids: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }])).outputs.length, 2);
    } finally {
      await shaped.close();
    }
  });
});

describe('Executor on real workers (PyTorch training + ONNX inference)', () => {
  it('answers every request, and a worker crash mid-run gives explicit errors, then training resumes', async () => {
    const trainer = new PythonWorker({ workload: tiny, threads: 1 });
    const onnx = await OnnxRunner.create({ models: { cam: { path: exportOnnx(join(dir, 'run.onnx')) } } });
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
    assert.ok(Number.isFinite(status.trainLoss), 'the training loss is in the status');
    assert.ok(trainer.crashes <= 1);
    if (trainer.crashes === 1) assert.ok(events.some((e) => e.type === 'worker.crashed'));
  });

  it('a request whose input the model cannot take fails alone (invalid-input); the rest of its minibatch is answered', async () => {
    const onnx = await OnnxRunner.create({ models: { cam: { path: exportOnnx(join(dir, 'invalid.onnx')) } } });
    // Inference only (no training runner: its minibatches fail, which the executor counts and survives).
    const runner = composeRunners({ inference: onnx });
    const executor = new Executor({
      runner,
      problem: { trainBatchSize: 8, streams: [{ name: 'cam', arrivalRatePerS: 50, latencyBudgetS: 5 }] },
      plan: { planId: 'invalid', batchSizes: { cam: 4 } },
    });
    const x = Float32Array.from({ length: 16 }, (_, i) => Math.cos(i));
    executor.start();
    // Submitted in one tick: the loop's first decision sees a full batch of four.
    const answers = [executor.infer('cam', x), executor.infer('cam', [1, 2, 3]), executor.infer('cam'), executor.infer('cam', x)];
    const settled = await Promise.allSettled(answers);
    await executor.stop();
    await runner.close();
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const err = (settled[1] as PromiseRejectedResult).reason;
    assert.ok(err instanceof InferenceError && err.code === 'invalid-input', String(err));
    assert.match(err.message, /input has 3 values, expected 16/);
    const outputs = settled.filter((s): s is PromiseFulfilledResult<InferOutcome> => s.status === 'fulfilled').map((s) => s.value);
    assert.deepEqual(outputs[0]!.output, outputs[2]!.output, 'both given inputs answered on themselves');
    assert.equal(outputs[0]!.batchSize, 4, 'the refused sample kept its place in the minibatch');
  });
});
