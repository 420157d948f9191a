// Bring your own model, as a user would: workload folders this test writes itself (not a built-in,
// not an example) checked, trained and served by `fulcrum workload check` and `fulcrum run`, with
// real PyTorch workers and a real onnxruntime session.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPython } from '@fulcrum/executor/internal';
import { tinyOnnxExportScript, tinyTwoInputOnnxExportScript, writeTinyWorkload } from '@fulcrum/workloads/testing';
import { cli } from './test-support.js';

let dir: string;
let models: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-byom-'));
  models = join(dir, 'my-models');
  writeTinyWorkload(join(models, 'my-trainer'), { name: 'my-trainer' });
  writeTinyWorkload(join(models, 'my-detector'), { name: 'my-detector', train: false });
  // An ONNX-served detector: only a manifest and the model file, no Python.
  const onnxDir = join(models, 'my-onnx-detector');
  execFileSync('mkdir', ['-p', onnxDir]);
  execFileSync(defaultPython(), ['-c', tinyOnnxExportScript(join(onnxDir, 'detector.onnx'))], { stdio: ['ignore', 'ignore', 'pipe'] });
  writeFileSync(join(onnxDir, 'fulcrum.yaml'), 'name: my-onnx-detector\ninfer:\n  onnx: detector.onnx\n  batch_sizes: [1, 2, 4, 8]\n  max_batch_size: 8\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('fulcrum workload check', () => {
  it("imports the user's module in the real worker, runs a training step and inference minibatches, and says it is ready", async () => {
    const r = await cli('workload', 'check', join(models, 'my-trainer'), '--device', 'cpu', '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.kinds, ['train', 'infer']);
    assert.ok(Number.isFinite(report.train.loss) && report.train.timeS > 0);
    assert.deepEqual(report.infer.map((i: { batchSize: number; outputs: number }) => [i.batchSize, i.outputs]), [[1, 1], [2, 2]]);
    assert.deepEqual(report.problems, []);
    const onnx = await cli('workload', 'check', join(models, 'my-onnx-detector'));
    assert.equal(onnx.code, 0, onnx.stderr + onnx.stdout);
    assert.match(onnx.stdout, /onnx: input "input" \[batch, 16\] float32, dynamic batch/);
    assert.match(onnx.stdout, /infer \(onnxruntime\): batch 2: 2 results/);
  });

  it('refuses a bad manifest with exit 2 naming the field', async () => {
    const bad = (name: string, yaml: string): string => {
      const d = join(dir, 'bad', name);
      writeTinyWorkload(d, { name: 'bad' });
      writeFileSync(join(d, 'fulcrum.yaml'), yaml);
      return d;
    };
    const batch = await cli('workload', 'check', bad('batch', 'name: bad\ninfer:\n  batch_sizes: [1, -4]\n'));
    assert.equal(batch.code, 2);
    assert.match(batch.stderr, /fulcrum\.yaml: infer\.batch_sizes\[1\]: .*positive|too small/i);
    const typo = await cli('workload', 'check', bad('typo', 'name: bad\ntrian:\n  batch_size: 8\n'));
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /fulcrum\.yaml: trian: unknown key/);
    const name = await cli('workload', 'check', bad('name', 'name: "my model!"\ntrain: {}\n'));
    assert.equal(name.code, 2);
    assert.match(name.stderr, /fulcrum\.yaml: name: must be 1–64 letters/);
    const dtype = await cli('run', '--workloads', bad('dtype', 'name: bad2\ninfer:\n  input: {shape: [4], dtype: complex64}\n'), '--train', 'bad2');
    assert.equal(dtype.code, 2);
    assert.match(dtype.stderr, /--workloads: .*fulcrum\.yaml: infer\.input\.dtype/);
    assert.doesNotMatch(dtype.stderr + batch.stderr + typo.stderr, /\n\s+at /, 'no stack trace');
  });

  it("a folder named like a built-in workload is not called ready: every other command would refuse it", async () => {
    const d = writeTinyWorkload(join(dir, 'clash', 'resnet18'), { name: 'resnet18' });
    const r = await cli('workload', 'check', d);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /- name: "resnet18" is a built-in workload's \(.*builtin.resnet18\); run, serve, solve and the rest refuse two folders with one name: rename it/);
    assert.doesNotMatch(r.stdout, /ok: the folder is ready/);
  });

  it('a module that does not load (a SyntaxError) is exit 2 naming the module, in one line', async () => {
    const d = join(dir, 'bad', 'syntax');
    writeTinyWorkload(d, { name: 'syntax' });
    writeFileSync(join(d, 'workload.py'), 'def broken(:\n');
    const r = await cli('workload', 'check', d);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^fulcrum: .*syntax\/workload\.py: .*SyntaxError/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('fulcrum run --workloads (real PyTorch + onnxruntime)', () => {
  it("trains the user's model and serves the user's detector: every request answered, the training loss reported", async () => {
    const r = await cli('run', '--workloads', models, '--train', 'my-trainer', '--stream', 'name=cam,workload=my-detector,rate=20,latency=0.5,batch=4', '--duration', '3', '--device', 'cpu', '--no-checkpoints', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.allAnswered, true);
    assert.equal(out.streams[0].workload, 'my-detector');
    assert.equal(out.streams[0].runner, 'python-torch');
    assert.ok(out.streams[0].sent >= 50);
    assert.equal(out.streams[0].completed, out.streams[0].sent);
    assert.equal(out.training.workload, 'my-trainer');
    assert.ok(out.training.stepsRun > 10);
    assert.ok(Number.isFinite(out.training.firstLoss) && Number.isFinite(out.training.lastLoss));
    assert.ok(out.training.lastLoss < out.training.firstLoss, `the model learns: loss ${out.training.firstLoss} → ${out.training.lastLoss}`);
    assert.ok(out.training.loadTime.count > 0, 'data loading is timed apart');
  });

  it('checks and serves an ONNX model with several inputs (a text model: ids and mask), a length the manifest gives', async () => {
    const text = join(dir, 'text-models', 'my-text-onnx');
    execFileSync('mkdir', ['-p', text]);
    execFileSync(defaultPython(), ['-c', tinyTwoInputOnnxExportScript(join(text, 'model.onnx'), { dynamicLength: true })], { stdio: ['ignore', 'ignore', 'pipe'] });
    writeFileSync(join(text, 'fulcrum.yaml'), 'name: my-text-onnx\ninfer:\n  onnx: model.onnx\n  batch_sizes: [1, 4]\n  input:\n    shape: [12]\n    dtype: int64\n');
    const check = await cli('workload', 'check', text);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /onnx: inputs "input_ids" \[batch, 12\] int64, "attention_mask" \[batch, 12\] int64, dynamic batch/);
    const r = await cli('run', '--workloads', `${models},${join(dir, 'text-models')}`, '--train', 'my-trainer', '--stream', 'name=text,workload=my-text-onnx,rate=30,latency=0.5,batch=4', '--duration', '1', '--device', 'cpu', '--no-checkpoints', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.streams[0].runner, 'onnxruntime');
    assert.equal(out.streams[0].completed, out.streams[0].sent);
  });

  it('serves an ONNX file through the same command, and refuses an unknown workload by name', async () => {
    const r = await cli('run', '--workloads', models, '--train', 'my-trainer', '--stream', 'name=det,workload=my-onnx-detector,rate=30,latency=0.5,batch=4', '--duration', '2', '--device', 'cpu', '--no-checkpoints', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.allAnswered, true);
    assert.equal(out.streams[0].runner, 'onnxruntime');
    assert.equal(out.streams[0].completed, out.streams[0].sent);
    const unknown = await cli('run', '--workloads', models, '--train', 'my-trainer', '--stream', 'name=x,workload=their-model,rate=1,latency=1,batch=1');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--stream #1 workload: unknown workload "their-model"; known workloads: .*my-detector/);
    const none = await cli('run', '--stream', 'name=a,workload=resnet18,rate=1,latency=1,batch=1');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--train: name the workload to train/);
    const missing = await cli('run', '--workloads', models, '--train', 'my-trainer', '--stream', 'name=a,rate=1,latency=1');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--stream #1: missing batch/);
    // A minibatch past the folder's max_batch_size, or Fulcrum's limit, is refused before any worker starts.
    const tooBig = await cli('run', '--workloads', models, '--train', 'my-trainer', '--stream', 'name=det,workload=my-onnx-detector,rate=30,latency=0.5,batch=16');
    assert.equal(tooBig.code, 2, tooBig.stderr);
    assert.match(tooBig.stderr, /^fulcrum: --stream #1 batch: must be at most 8 for my-onnx-detector \(its infer\.max_batch_size\), got 16\n$/);
    const huge = await cli('run', '--workloads', models, '--train', 'my-trainer', '--infer', 'my-detector', '--batch', '5000', '--train-batch', '3');
    assert.equal(huge.code, 2, huge.stderr);
    assert.match(huge.stderr, /^fulcrum: --batch: must be at most 4096 \(the largest minibatch Fulcrum runs\), got 5000\n$/);
    // The default b (4) comes down to a folder's smaller infer.max_batch_size instead of being refused.
    const small = join(dir, 'small-models', 'small-onnx');
    execFileSync('mkdir', ['-p', small]);
    execFileSync('cp', [join(models, 'my-onnx-detector', 'detector.onnx'), small]);
    writeFileSync(join(small, 'fulcrum.yaml'), 'name: small-onnx\ninfer:\n  onnx: detector.onnx\n  batch_sizes: [1, 2]\n  max_batch_size: 2\n');
    const smallRun = await cli('run', '--workloads', `${models},${join(dir, 'small-models')}`, '--train', 'my-trainer', '--infer', 'small-onnx', '--duration', '1', '--device', 'cpu', '--no-checkpoints', '--json');
    assert.equal(smallRun.code, 0, smallRun.stderr);
    assert.equal(JSON.parse(smallRun.stdout).streams[0].batchSize, 2);
    const hugeTrain = await cli('run', '--workloads', models, '--train', 'my-trainer', '--infer', 'my-detector', '--train-batch', '5000');
    assert.equal(hugeTrain.code, 2, hugeTrain.stderr);
    assert.match(hugeTrain.stderr, /^fulcrum: --train-batch: must be at most 4096/);
  });

  it("refuses a stream's rate and latency budget past the problem limits (1e6 requests/s, 3600 s) naming the flag, before any worker starts", async () => {
    for (const [args, message] of [
      [['--infer', 'my-detector', '--rate', '1e308'], /^fulcrum: --rate: must be at most 1000000 requests\/s \(far above what any board serves\), got 1e\+308\n$/],
      [['--infer', 'my-detector', '--latency', '1e308'], /^fulcrum: --latency: must be at most 3600 s \(an hour\), got 1e\+308\n$/],
      [['--stream', 'name=a,workload=my-detector,rate=1,latency=0.5,batch=1', '--stream', 'name=b,workload=my-detector,rate=2e6,latency=0.5,batch=1'], /^fulcrum: --stream #2 rate: must be at most 1000000 requests\/s/],
      [['--stream', 'name=a,workload=my-detector,rate=1,latency=7200,batch=1'], /^fulcrum: --stream #1 latency: must be at most 3600 s/],
    ] as const) {
      const r = await cli('run', '--workloads', models, '--train', 'my-trainer', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('a python that cannot run the worker is one line naming where it came from, exit 2', async () => {
    const stream = ['--stream', 'name=det,workload=my-onnx-detector,rate=5,latency=0.5,batch=2', '--duration', '1', '--no-checkpoints'];
    // A real interpreter without the packages the worker imports, as a pyenv python on PATH often
    // is: the same python with site-packages off (-S).
    const bare = join(dir, 'python-without-packages');
    writeFileSync(bare, `#!/bin/sh\nexec ${defaultPython()} -S "$@"\n`);
    chmodSync(bare, 0o755);
    for (const [python, message] of [
      [bare, /^fulcrum: --python .*python-without-packages: it has no numpy \(No module named 'numpy'\); the worker needs a python with numpy and PyTorch/],
      [join(dir, 'no-such-python'), /^fulcrum: --python .*no-such-python: no such program$/],
      ['/bin/true', /^fulcrum: --python \/bin\/true: it could not run the worker: worker exited with code 0$/],
    ] as const) {
      const r = await cli('run', '--workloads', models, '--train', 'my-trainer', ...stream, '--python', python);
      assert.equal(r.code, 2, `${python}: ${r.stderr}`);
      // The progress line, then one line: no stack.
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[1]!, message);
    }
  });

  it("a serving workload whose step fails is named, not the training one", async () => {
    const broken = join(dir, 'broken');
    const folder = writeTinyWorkload(join(broken, 'wrong-count'), { name: 'wrong-count', train: false });
    const py = join(folder, 'workload.py');
    writeFileSync(py, readFileSync(py, 'utf8').replace('return self.model(torch.as_tensor(', 'return [1] or self.model(torch.as_tensor('));
    const r = await cli('run', '--workloads', `${models},${broken}`, '--train', 'my-trainer', '--stream', 'name=c,workload=wrong-count,rate=10,latency=0.5,batch=2', '--duration', '2', '--device', 'cpu', '--no-checkpoints');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr.trim().split('\n').at(-1)!, /^fulcrum: wrong-count: python worker: ValueError: infer returned 1 results for a batch of 2$/);
  });
});
