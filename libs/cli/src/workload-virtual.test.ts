// Bring your own model on the virtual board: workload folders this test writes itself (a tiny MLP
// with a cost: section, the same MLP exported as ONNX without one, and one with neither) inspected
// with `fulcrum workload inspect`, and planned, simulated and benchmarked on the virtual Orin AGX
// with `--workloads` on solve, simulate and bench.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDevice, parsePowerMode } from '@fulcrum/core';
import { defaultPython } from '@fulcrum/executor/internal';
import { tinyOnnxExportScript, writeTinyWorkload } from '@fulcrum/workloads/testing';
import { cli, myOrinCsv } from './test-support.js';

let dir: string;
/** tiny-trainer (train + infer, cost: section) and tiny-onnx (infer only, counted on its ONNX graph). */
let models: string;
/** tiny-nocost: train + infer, neither a cost: section nor an ONNX file. */
let nocost: string;

const noStack = (text: string): void => assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-byom-virtual-'));
  models = join(dir, 'my-models');
  writeTinyWorkload(join(models, 'tiny-trainer'), { name: 'tiny-trainer' });
  const onnxDir = join(models, 'tiny-onnx');
  mkdirSync(onnxDir, { recursive: true });
  // /usr/bin/python3 has torch (FULCRUM_PYTHON overrides it, as for the worker).
  execFileSync(defaultPython(), ['-c', tinyOnnxExportScript(join(onnxDir, 'model.onnx'))], { stdio: ['ignore', 'ignore', 'pipe'] });
  writeFileSync(join(onnxDir, 'fulcrum.yaml'), 'name: tiny-onnx\ninfer:\n  onnx: model.onnx\n  batch_sizes: [1, 2, 4, 8]\n');
  nocost = writeTinyWorkload(join(dir, 'elsewhere', 'tiny-nocost'), { name: 'tiny-nocost', cost: false });
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('fulcrum workload inspect', () => {
  it("prints a cost: folder's FLOPs and bytes and the virtual board's estimate, saying it is one", async () => {
    const r = await cli('workload', 'inspect', join(models, 'tiny-trainer'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tiny-trainer/);
    assert.match(r.stdout, /cost\s+from the manifest's cost: section/);
    assert.match(r.stdout, /infer 1\.28 kFLOP/); // 2·(16·32 + 32·4)
    assert.match(r.stdout, /a model's prediction, not a measurement/);
    assert.match(r.stdout, /train batch 16\s+[\d.]+ ms\s+[\d.]+ W/);
    assert.match(r.stdout, /infer batch 8\s+[\d.]+ ms\s+[\d.]+ W/);

    const j = await cli('workload', 'inspect', join(models, 'tiny-trainer'), '--preset', '30W', '--json');
    assert.equal(j.code, 0, j.stderr);
    const ins = JSON.parse(j.stdout);
    assert.equal(ins.origin, 'manifest');
    assert.equal(ins.estimated, false);
    assert.equal(ins.cost.infer.flopsPerSample, 1280);
    assert.equal(ins.cost.train.flopsPerSample, 3 * 1280);
    assert.equal(ins.virtual.device, 'orin-agx');
    assert.equal(ins.virtual.modeName, '30W');
    assert.deepEqual(ins.virtual.estimates.map((e: { kind: string; batchSize: number }) => `${e.kind}${e.batchSize}`), ['train16', 'infer1', 'infer2', 'infer4', 'infer8']);
    for (const e of ins.virtual.estimates) assert.ok(e.timeMs > 0 && e.powerW > 0, JSON.stringify(e));
  });

  it('counts an ONNX-only folder on its graph and says the costs are an estimate', async () => {
    const r = await cli('workload', 'inspect', join(models, 'tiny-onnx'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /counted on model\.onnx \(an estimate/);
    assert.match(r.stdout, /onnx\s+model\.onnx: opset 13, \d+ nodes \(.*Gemm 2/);
    assert.match(r.stdout, /infer batch 4\s+[\d.]+ ms\s+[\d.]+ W/);
    const ins = JSON.parse((await cli('workload', 'inspect', join(models, 'tiny-onnx'), '--json')).stdout);
    assert.equal(ins.origin, 'onnx');
    assert.equal(ins.estimated, true);
    assert.deepEqual(ins.kinds, ['infer']);
    // The same MLP the cost: section counts by hand (plus the biases and the ReLU).
    assert.ok(ins.cost.infer.flopsPerSample >= 1280 && ins.cost.infer.flopsPerSample < 1.2 * 1280, String(ins.cost.infer.flopsPerSample));
    assert.equal(ins.onnx.batchDynamic, true);
  });

  it('exits 2 with one line for a folder the board cannot simulate, a bad manifest, a folder of folders, a bad preset', async () => {
    const r = await cli('workload', 'inspect', nocost);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^fulcrum: .*tiny-nocost: no cost: section and no infer\.onnx to count; the virtual board cannot simulate it\n$/);
    const badDir = writeTinyWorkload(join(dir, 'bad'), { name: 'bad' });
    writeFileSync(join(badDir, 'fulcrum.yaml'), 'name: bad\ninfer:\n  batch_sizes: [1, -4]\n');
    const bad = await cli('workload', 'inspect', badDir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /fulcrum\.yaml: infer\.batch_sizes\[1\]: /);
    const parent = await cli('workload', 'inspect', models);
    assert.equal(parent.code, 2);
    assert.match(parent.stderr, /holds workload folders: give one of .*tiny-onnx, .*tiny-trainer/);
    const preset = await cli('workload', 'inspect', join(models, 'tiny-trainer'), '--preset', '99W');
    assert.equal(preset.code, 2);
    assert.match(preset.stderr, /^fulcrum: --preset: unknown preset "99W" for orin-agx; known presets: /);
    for (const x of [r, bad, parent, preset]) noStack(x.stderr);
  });
});

describe('--workloads on the virtual board', () => {
  it("solve: a feasible plan on the grid for the user's train + infer pair, at the manifest's batch sizes", async () => {
    const r = await cli('solve', '--workloads', models, '--train', 'tiny-trainer', '--infer', 'tiny-onnx', '--rate', '20', '--latency', '0.2', '--power', '20', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.problem.trainWorkload, 'tiny-trainer');
    assert.equal(out.problem.trainBatchSize, 16); // the manifest's train.batch_size
    assert.equal(out.problem.streams[0].workload, 'tiny-onnx');
    assert.deepEqual(out.problem.streams[0].candidateBatchSizes, [1, 2, 4, 8]);
    assert.equal(out.plan.feasible, true, out.plan.verdict);
    assert.ok([1, 2, 4, 8].includes(out.plan.batchSizes.stream0));
    const mode = parsePowerMode(out.plan.mode);
    const grid = getDevice('orin-agx').grid;
    assert.ok(grid.cores.includes(mode.cores) && grid.cpuMhz.includes(mode.cpuMhz) && grid.gpuMhz.includes(mode.gpuMhz) && grid.emcMhz.includes(mode.emcMhz), out.plan.mode);
    assert.ok(out.plan.powerW <= 20 && out.plan.trainThroughputSamplesPerS > 0);
    assert.equal(out.groundTruth.feasible, true);
  });

  it('solve: one line and exit 2 for a workload the board cannot simulate, one that cannot be trained, an unknown one', async () => {
    const all = `${models},${nocost}`;
    const cases: [string[], RegExp][] = [
      [['--workloads', all, '--train', 'tiny-nocost', '--infer', 'tiny-onnx'], /^fulcrum: --workloads: .*tiny-nocost: no cost: section and no infer\.onnx to count/],
      [['--workloads', models, '--train', 'tiny-onnx', '--infer', 'tiny-onnx'], /^fulcrum: --train: workload "tiny-onnx" cannot be trained: .*fulcrum\.yaml has no train: section/],
      [['--workloads', models, '--train', 'tiny-trainer', '--infer', 'nope'], /^fulcrum: --infer: unknown workload "nope"; known workloads: .*tiny-onnx/],
      [['--workloads', join(dir, 'nowhere'), '--train', 'resnet18', '--infer', 'mobilenet'], /^fulcrum: --workloads: .*nowhere: no such folder/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli('solve', ...args, '--rate', '20', '--latency', '0.2', '--power', '20');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      noStack(r.stderr);
    }
    // A folder that cannot be simulated is no obstacle when the problem does not name it.
    const ok = await cli('solve', '--workloads', `${models},${nocost}`, '--train', 'tiny-trainer', '--infer', 'tiny-onnx', '--rate', '20', '--latency', '0.2', '--power', '20');
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('solve --profiles: the table decides the workloads; --workloads breaks nothing', async () => {
    const csv = join(dir, 'my-orin.csv');
    writeFileSync(csv, myOrinCsv());
    const r = await cli('solve', '--profiles', csv, '--workloads', models, '--train', 'my-trainer', '--infer', 'my-detector', '--rate', '2', '--latency', '2', '--power', '40', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).plan.feasible, true);
    const user = await cli('solve', '--profiles', csv, '--workloads', models, '--train', 'tiny-trainer', '--infer', 'my-detector', '--rate', '2', '--latency', '2', '--power', '40');
    assert.equal(user.code, 2);
    assert.match(user.stderr, /^fulcrum: --train: table .* has no profiles for tiny-trainer \(--workloads adds no workloads to a profile table: its rows decide\)\n$/);
  });

  it("simulate: the executor's policy runs the user's pair, every request answered", async () => {
    const r = await cli('simulate', '--workloads', models, '--train', 'tiny-trainer', '--power', '20', '--stream', 'name=cam,workload=tiny-onnx,rate=20,latency=0.2', '--duration', '120', '--als-budget', '50', '--json');
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.allAnswered, true);
    assert.equal(rep.streams[0].stream, 'cam');
    assert.ok(rep.streams[0].arrivals > 1000 && rep.streams[0].latency.p99S <= 0.2, JSON.stringify(rep.streams[0].latency));
    assert.ok(rep.trainThroughputSamplesPerS > 0);
    assert.ok([1, 2, 4, 8].includes(rep.plans[0].plan.batchSizes.cam), JSON.stringify(rep.plans[0].plan.batchSizes));
    const bad = await cli('simulate', '--workloads', `${models},${nocost}`, '--train', 'tiny-nocost', '--power', '20', '--stream', 'name=cam,workload=tiny-onnx,rate=20,latency=0.2', '--duration', '10');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^fulcrum: --workloads: .*tiny-nocost: no cost: section/);
  });

  it("bench: a quick sweep over the user's pair, scored against the oracle", async () => {
    const json = join(dir, 'bench.json');
    const r = await cli('bench', '--workloads', models, '--train', 'tiny-trainer', '--infer', 'tiny-onnx', '--strategies', 'oracle,gmd', '--workers', '1', '--no-progress', '--json', json);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bench quick on virtual orin-agx .*: 108 configurations, 3 keys/);
    const out = JSON.parse(readFileSync(json, 'utf8'));
    for (const k of out.keys) {
      assert.equal(k.train, 'tiny-trainer');
      for (const i of k.infer) assert.equal(i, 'tiny-onnx');
    }
    assert.equal(out.summary.configurations, 108);
    assert.ok(out.summary.oracleFeasible > 0);
    const oracle = out.summary.strategies.find((s: { strategy: string }) => s.strategy === 'oracle');
    assert.equal(oracle.meanRatio, 1);
    assert.ok(out.summary.strategies.find((s: { strategy: string }) => s.strategy === 'gmd').scoredConfigurations > 0);
    const bad = await cli('bench', '--workloads', models, '--train', 'tiny-onnx', '--no-progress');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^fulcrum: --train: workload "tiny-onnx" cannot be trained/);
  });

  it('demo: a bad --workloads folder is a usage error before anything starts', async () => {
    const r = await cli('demo', '--workloads', nocost.replace('tiny-nocost', 'missing'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^fulcrum: --workloads: .*missing: no such folder\n$/);
  });

  it("demo --train/--infer runs the user's workloads end to end through the services; half a pair or a wrong kind exits 2", async () => {
    const r = await cli('demo', '--workloads', models, '--train', 'tiny-trainer', '--infer', 'tiny-onnx', '--rate', '20', '--latency', '0.2', '--power', '20', '--duration-s', '4', '--time-scale', '4', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.solve.plan.feasible, true);
    // Planned among the folder's own batch sizes (its manifest's infer.batch_sizes), not 1…64.
    assert.deepEqual(out.solve.problem.streams[0].candidateBatchSizes, [1, 2, 4, 8]);
    assert.ok([1, 2, 4, 8].includes(out.solve.plan.batchSizes.cam), JSON.stringify(out.solve.plan.batchSizes));
    assert.ok(out.run.streams[0].sent > 0);
    assert.equal(out.run.streams[0].answered, out.run.streams[0].sent);
    const half = await cli('demo', '--workloads', models, '--train', 'tiny-trainer');
    assert.equal(half.code, 2);
    assert.match(half.stderr, /^fulcrum: --infer: give --train and --infer together/);
    const kind = await cli('demo', '--workloads', models, '--train', 'tiny-onnx', '--infer', 'tiny-onnx');
    assert.equal(kind.code, 2);
    assert.match(kind.stderr, /^fulcrum: --train: workload "tiny-onnx" has no train: section/);
  });
});
