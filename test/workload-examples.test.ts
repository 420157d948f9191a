/**
 * The example workload folders of examples/workloads/ (docs/WORKLOADS.md), as a user brings them:
 * their manifests load; digits-classifier's workload.py trains (loss falls, held-out accuracy well
 * above chance), serves every manifest batch size and resumes from its state_dict where it left
 * off; digits-onnx's model.onnx, run by onnxruntime-node, answers the class its Python path
 * (workload.py on weights.pt) answers, on real held-out digits; and the README's commands
 * (`fulcrum workload check` on both folders, `fulcrum run` training one while serving the other)
 * succeed.
 *
 * The Python side runs on /usr/bin/python3 (or FULCRUM_PYTHON) with torch and scikit-learn: driven
 * through a small harness that calls the module as docs/WORKLOADS.md says the worker does, and
 * through the CLI's real worker.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { runCli } from '@fulcrum/cli';
import { inspectWorkload, loadWorkloadFolder, type WorkloadFolder } from '@fulcrum/workloads';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLES = join(root, 'examples', 'workloads');
const PYTHON = process.env['FULCRUM_PYTHON'] || '/usr/bin/python3';
/** Training minibatches the harness runs on digits-classifier (≈1.5 s on one CPU core). */
const TRAIN_STEPS = 300;

/**
 * argv: folder, manifest (JSON, as ctx.manifest), training steps. Sets the module up as the worker
 * does, trains, round-trips state_dict, infers every batch size on generated inputs and the
 * held-out digits of digits-classifier (the split its load_split makes), and prints one JSON line.
 */
const HARNESS = String.raw`
import importlib.util, io, json, os, sys
from types import SimpleNamespace
import numpy as np
import torch

torch.set_num_threads(1)
folder, manifest, steps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])

def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

module = load(os.path.join(folder, manifest.get("module", "workload.py")), "workload_under_test")
kinds = {k for k in ("train", "infer") if k in manifest}

def make():
    w = module.FulcrumWorkload()
    w.setup(SimpleNamespace(device="cpu", folder=folder, seed=0, manifest=manifest, kinds=kinds))
    return w

out = {"kinds": sorted(kinds)}
w = make()
if "train" in kinds:
    b = manifest["train"]["batch_size"]
    results = []
    for _ in range(steps):
        batch = w.train_batch(b)
        results.append(w.train_step(batch))
    out["batch_rows"] = int(batch[0].shape[0])
    out["first"], out["last"] = results[0], results[-1]
    out["mean_loss_first_20"] = float(np.mean([r["loss"] for r in results[:20]]))
    out["mean_loss_last_20"] = float(np.mean([r["loss"] for r in results[-20:]]))
    saved = io.BytesIO()
    torch.save({"step": steps, "state": w.state_dict()}, saved)
    saved.seek(0)
    out["continued"] = [w.train_step(w.train_batch(b))["loss"] for _ in range(3)]
    resumed = make()
    resumed.load_state_dict(torch.load(saved)["state"])
    out["resumed"] = [resumed.train_step(resumed.train_batch(b))["loss"] for _ in range(3)]

shape = manifest["infer"]["input"]["shape"]
rng = np.random.default_rng(0)
out["infer_shapes"] = {}
for bs in manifest["infer"]["batch_sizes"]:
    result = w.infer(rng.random((bs, *shape), dtype=np.float32))
    out["infer_shapes"][bs] = list(result.shape)
    assert len(result.tolist()) == bs

classifier = load(os.path.join(folder, "..", "digits-classifier", "workload.py"), "digits_classifier_split")
_, _, test_x, test_y = classifier.load_split()
inputs = classifier.to_input(test_x)
out["heldout_inputs"] = inputs.reshape(len(inputs), -1).tolist()
out["heldout_labels"] = test_y.tolist()
out["heldout_predicted"] = np.asarray(w.infer(inputs)).argmax(1).tolist()
print(json.dumps(out))
`;

interface StepResult {
  readonly loss: number;
  readonly accuracy: number;
}

interface HarnessOut {
  readonly kinds: string[];
  readonly batch_rows?: number;
  readonly first?: StepResult;
  readonly last?: StepResult;
  readonly mean_loss_first_20?: number;
  readonly mean_loss_last_20?: number;
  readonly continued?: number[];
  readonly resumed?: number[];
  readonly infer_shapes: Record<string, number[]>;
  readonly heldout_inputs: number[][];
  readonly heldout_labels: number[];
  readonly heldout_predicted: number[];
}

function harness(folder: WorkloadFolder, steps: number): Promise<HarnessOut> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      ['-c', HARNESS, folder.dir, JSON.stringify(folder.manifest.raw), String(steps)],
      { cwd: root, timeout: 120_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${PYTHON} harness on ${folder.dir} failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as HarnessOut);
      },
    );
  });
}

/** `fulcrum …` in this process; its exit code and what it printed. */
async function fulcrum(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

function accuracy(predicted: readonly number[], labels: readonly number[]): number {
  return predicted.filter((p, i) => p === labels[i]).length / labels.length;
}

describe('example workload folders (examples/workloads)', () => {
  let classifier: WorkloadFolder;
  let onnx: WorkloadFolder;
  let trained: HarnessOut;
  let served: HarnessOut;

  before(async () => {
    classifier = loadWorkloadFolder(join(EXAMPLES, 'digits-classifier'));
    onnx = loadWorkloadFolder(join(EXAMPLES, 'digits-onnx'));
    [trained, served] = await Promise.all([harness(classifier, TRAIN_STEPS), harness(onnx, 0)]);
  });

  it('their manifests load: digits-classifier trains and serves with a hand-counted cost, digits-onnx only serves its ONNX file', () => {
    assert.equal(classifier.manifest.name, 'digits-classifier');
    assert.deepEqual(classifier.manifest.train, { batchSize: 32, lr: 0.001 });
    assert.deepEqual(classifier.manifest.infer?.input, { shape: [1, 8, 8], dtype: 'float32' });
    assert.deepEqual(classifier.manifest.cost?.infer, { flopsPerSample: 682_816, bytesPerSample: 58_664, flopsPerBatch: 0, paramBytes: 152_640 });
    assert.equal(classifier.manifest.cost?.train?.flopsPerSample, 3 * 682_816);
    assert.equal(classifier.onnxPath, undefined);

    assert.equal(onnx.manifest.name, 'digits-onnx');
    assert.equal(onnx.manifest.train, undefined);
    assert.equal(onnx.manifest.cost, undefined, 'digits-onnx leaves cost: to the ONNX graph');
    assert.equal(onnx.onnxPath, join(EXAMPLES, 'digits-onnx', 'model.onnx'));
    assert.deepEqual(onnx.manifest.infer?.batchSizes, [1, 2, 4, 8, 16]);
    assert.match(classifier.contentHash(), /^[0-9a-f]{64}$/);
  });

  it("digits-classifier's hand-counted cost: equals what the virtual board counts on digits-onnx's model.onnx (the same network)", () => {
    const byHand = inspectWorkload(classifier);
    const counted = inspectWorkload(onnx);
    assert.equal(byHand.origin, 'manifest');
    assert.equal(counted.origin, 'onnx');
    assert.deepEqual(counted.onnx?.uncounted, []);
    assert.equal(counted.onnx?.batchDynamic, true);
    assert.deepEqual(counted.cost, byHand.cost);
  });

  it('digits-classifier: train_batch + train_step learn the digits, infer serves every batch size, state_dict resumes where it left off', () => {
    assert.deepEqual(trained.kinds, ['infer', 'train']);
    assert.equal(trained.batch_rows, 32);
    for (const r of [trained.first!, trained.last!]) {
      assert.ok(Number.isFinite(r.loss) && r.loss >= 0, `loss ${r.loss}`);
      assert.ok(r.accuracy >= 0 && r.accuracy <= 1, `accuracy ${r.accuracy}`);
    }
    assert.ok(trained.mean_loss_last_20! < trained.mean_loss_first_20! / 3, `loss ${trained.mean_loss_first_20} → ${trained.mean_loss_last_20}`);
    const heldOut = accuracy(trained.heldout_predicted, trained.heldout_labels);
    assert.equal(trained.heldout_labels.length, 360);
    assert.ok(heldOut > 0.85, `held-out accuracy after ${TRAIN_STEPS} steps: ${heldOut} (chance 0.1)`);
    for (const b of classifier.manifest.infer!.batchSizes) assert.deepEqual(trained.infer_shapes[String(b)], [b, 10]);
    // The same model, optimiser and loader position: the resumed run takes the very same steps.
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(trained.continued![i]! - trained.resumed![i]!) < 1e-5, `continued ${trained.continued} vs resumed ${trained.resumed}`);
  });

  it('digits-onnx: model.onnx on onnxruntime-node answers the class workload.py answers on the held-out digits', async () => {
    assert.deepEqual(served.kinds, ['infer']);
    for (const b of onnx.manifest.infer!.batchSizes) assert.deepEqual(served.infer_shapes[String(b)], [b, 10]);
    const python = served.heldout_predicted;
    assert.ok(accuracy(python, served.heldout_labels) > 0.9, `Python path held-out accuracy ${accuracy(python, served.heldout_labels)}`);

    const session = await ort.InferenceSession.create(onnx.onnxPath!);
    try {
      assert.deepEqual([...session.inputNames], ['input']);
      assert.deepEqual([...session.outputNames], ['logits']);
      // A batch size the export never saw (the batch dimension is dynamic), then all 360 at once.
      for (const n of [3, served.heldout_inputs.length]) {
        const rows = served.heldout_inputs.slice(0, n);
        const result = await session.run({ input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [n, 1, 8, 8]) });
        const logits = result['logits']!;
        assert.deepEqual(logits.dims, [n, 10]);
        const data = logits.data as Float32Array;
        const predicted = rows.map((_, i) => {
          const row = Array.from(data.subarray(i * 10, i * 10 + 10));
          return row.indexOf(Math.max(...row));
        });
        assert.deepEqual(predicted, python.slice(0, n), 'onnxruntime-node and the Python path disagree on a digit');
      }
    } finally {
      await session.release();
    }
  });

  describe("the README's commands", () => {
    it('fulcrum workload check: both folders pass (one training step, Python and ONNX inference agreeing)', async () => {
      const python = ['--python', PYTHON, '--device', 'cpu', '--json'];
      const c = await fulcrum('workload', 'check', join(EXAMPLES, 'digits-classifier'), ...python);
      assert.equal(c.code, 0, c.stderr + c.stdout);
      const cr = JSON.parse(c.stdout);
      assert.deepEqual(cr.problems, []);
      assert.deepEqual(cr.kinds, ['train', 'infer']);
      assert.ok(Number.isFinite(cr.train.loss), `loss ${cr.train.loss}`);
      for (const i of cr.infer) assert.equal(i.outputs, i.batchSize);

      const o = await fulcrum('workload', 'check', join(EXAMPLES, 'digits-onnx'), ...python);
      assert.equal(o.code, 0, o.stderr + o.stdout);
      const or = JSON.parse(o.stdout);
      assert.deepEqual(or.problems, []);
      assert.deepEqual(or.kinds, ['infer']);
      assert.deepEqual(or.onnx, { inputName: 'input', inputShape: [1, 8, 8], inputType: 'float32' });
      assert.deepEqual(new Set(or.infer.map((i: { runner: string }) => i.runner)), new Set(['python-torch', 'onnxruntime']));
      assert.ok(or.agreement.of > 0 && or.agreement.same === or.agreement.of, `python vs onnx: ${JSON.stringify(or.agreement)}`);
    });

    it('fulcrum run: trains digits-classifier while onnxruntime serves digits-onnx; every request answered, the loss reported and falling', async () => {
      const r = await fulcrum(
        'run', '--workloads', EXAMPLES, '--train', 'digits-classifier',
        '--stream', 'name=cam,workload=digits-onnx,rate=20,latency=0.2,batch=4',
        '--duration', '5', '--python', PYTHON, '--device', 'cpu', '--no-checkpoints', '--json',
      );
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.allAnswered, true);
      const [cam] = out.streams;
      assert.equal(cam.workload, 'digits-onnx');
      assert.equal(cam.runner, 'onnxruntime');
      assert.ok(cam.sent >= 90, `sent ${cam.sent} in 5 s at 20/s`);
      assert.equal(cam.completed, cam.sent);
      assert.deepEqual(cam.failed, {});
      assert.equal(out.training.workload, 'digits-classifier');
      assert.equal(out.training.batchSize, 32);
      assert.ok(out.training.stepsRun > 20, `steps ${out.training.stepsRun}`);
      assert.ok(Number.isFinite(out.training.firstLoss) && Number.isFinite(out.training.lastLoss));
      assert.ok(out.training.lastLoss < out.training.firstLoss / 2, `loss ${out.training.firstLoss} → ${out.training.lastLoss}`);
    });
  });
});
