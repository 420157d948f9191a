// A workload folder on the virtual board: costs from the manifest's cost: section, or counted on
// an ONNX file exported by torch in this test (/usr/bin/python3 or FULCRUM_PYTHON), and what
// `fulcrum workload inspect DIR` shows about it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError, getDevice, getPreset } from '@fulcrum/core';
import { VirtualDevice } from '@fulcrum/devices';
import { loadWorkloadFolder, type WorkloadFolder } from './folder.js';
import { builtinWorkloadFolders } from './registry.js';
import { tinyOnnxExportScript } from './testing/index.js';
import { formatInspection, inspectWorkload, virtualWorkloadOf, virtualWorkloadsOf } from './virtual-cost.js';

const python = process.env['FULCRUM_PYTHON'] || '/usr/bin/python3';
const MAXN = getPreset(getDevice('orin-agx'), 'MAXN').mode;
let root: string;

function folder(name: string, manifest: string, files: Record<string, string> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'fulcrum.yaml'), manifest);
  writeFileSync(join(dir, 'workload.py'), 'class FulcrumWorkload:\n    pass\n');
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

// The tiny MLP (Linear 16→32, ReLU, Linear 32→4) of @fulcrum/workloads/testing, counted by hand.
const MLP_FLOPS = 2 * 16 * 32 + 32 + 2 * 32 * 4;
const MLP_ACT = 4 * (16 + 32) + 2 * 4 * 32 + 4 * (32 + 4);
const MLP_PARAMS = 4 * (16 * 32 + 32 * 4);

let withCost: WorkloadFolder;
let onnxOnly: WorkloadFolder;
let fixedBatch: WorkloadFolder;

describe('virtualWorkloadOf / inspectWorkload', () => {
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'fulcrum-virtual-cost-'));
    withCost = loadWorkloadFolder(
      folder(
        'detector',
        [
          'name: my-detector',
          'display_name: My Detector',
          'train: {batch_size: 16}',
          'infer: {batch_sizes: [1, 4], input: {shape: [3, 224, 224]}}',
          'cost: {flops_per_sample: 3.6e9, bytes_per_sample: 5.0e7, param_bytes: 4.7e7}',
        ].join('\n'),
      ),
    );
    folder('mlp', 'name: my-mlp\ntrain: {batch_size: 8}\ninfer: {batch_sizes: [1, 2, 8], onnx: model.onnx}\n');
    folder('fixed', 'name: my-fixed\ninfer: {batch_sizes: [1], onnx: model.onnx}\n');
    const script = [tinyOnnxExportScript(join(root, 'mlp', 'model.onnx')), tinyOnnxExportScript(join(root, 'fixed', 'model.onnx'), { dynamicBatch: false })].join('\n');
    execFileSync(python, ['-c', `import warnings\nwarnings.filterwarnings('ignore')\n${script}`], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
    onnxOnly = loadWorkloadFolder(join(root, 'mlp'));
    fixedBatch = loadWorkloadFolder(join(root, 'fixed'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("takes a folder's costs from its cost: section (training 3× a shared one)", () => {
    const spec = virtualWorkloadOf(withCost);
    assert.equal(spec.id, 'my-detector');
    assert.equal(spec.displayName, 'My Detector');
    assert.equal(spec.defaultTrainBatchSize, 16);
    assert.equal(spec.input, '3×224×224 float32');
    assert.deepEqual(spec.cost.infer, { flopsPerSample: 3.6e9, flopsPerBatch: 0, activationBytesPerSample: 5e7, paramBytes: 4.7e7 });
    assert.deepEqual(spec.cost.train, { flopsPerSample: 3 * 3.6e9, flopsPerBatch: 0, activationBytesPerSample: 3 * 5e7, paramBytes: 3 * 4.7e7 });
    assert.equal(spec.operators, undefined);
    assert.match(spec.source!, /fulcrum\.yaml's cost: section$/);
    const board = new VirtualDevice('orin-agx', { noise: 0, workloads: [spec] });
    const t = board.groundTruth({ workload: 'my-detector', kind: 'infer', batchSize: 4, mode: MAXN });
    assert.ok(t.timeMs > 0 && t.powerW > 0);
  });

  it('counts a folder without a cost: section on its ONNX graph (training 3× inference)', () => {
    const spec = virtualWorkloadOf(onnxOnly);
    assert.deepEqual(spec.cost.infer, { flopsPerSample: MLP_FLOPS, flopsPerBatch: 0, activationBytesPerSample: MLP_ACT, paramBytes: MLP_PARAMS });
    assert.deepEqual(spec.cost.train, { flopsPerSample: 3 * MLP_FLOPS, flopsPerBatch: 0, activationBytesPerSample: 3 * MLP_ACT, paramBytes: 3 * MLP_PARAMS });
    assert.equal(spec.operators, 3);
    assert.equal(spec.computeClass, 'matmul');
    assert.match(spec.source!, /counted on .*model\.onnx \(an estimate\)/);
  });

  it('refuses a folder with neither, naming it', () => {
    const bare = loadWorkloadFolder(folder('bare', 'name: bare\ntrain: {batch_size: 4}\n'));
    assert.throws(
      () => virtualWorkloadOf(bare),
      (err: unknown) => err instanceof ValidationError && err.field === bare.dir && err.reason === 'no cost: section and no infer.onnx to count; the virtual board cannot simulate it',
    );
  });

  it("names the ONNX file when it cannot be counted", () => {
    const broken = folder('broken', 'name: broken\ninfer: {batch_sizes: [1], onnx: model.onnx}\n', { 'model.onnx': 'not a model' });
    assert.throws(() => virtualWorkloadOf(loadWorkloadFolder(broken)), /broken\/model\.onnx: is not a readable ONNX model/);
  });

  it("skips built-in folders (the board has their calibrated costs)", () => {
    const specs = virtualWorkloadsOf([...builtinWorkloadFolders(), withCost, onnxOnly]);
    assert.deepEqual(specs.map((s) => s.id), ['my-detector', 'my-mlp']);
  });

  it("inspects a folder with a cost: section: the manifest's numbers and the virtual board's estimate", () => {
    const ins = inspectWorkload(withCost);
    assert.equal(ins.origin, 'manifest');
    assert.equal(ins.estimated, false);
    assert.equal(ins.source, "from the manifest's cost: section");
    assert.deepEqual(ins.kinds, ['train', 'infer']);
    assert.deepEqual(ins.input, { shape: [3, 224, 224], dtype: 'float32', from: 'manifest' });
    assert.deepEqual(ins.cost.infer, { flopsPerSample: 3.6e9, flopsPerBatch: 0, bytesPerSample: 5e7, bytesPerBatch: 4.7e7, derived: false });
    assert.equal(ins.virtual.device, 'orin-agx');
    assert.equal(ins.virtual.modeName, 'MAXN');
    assert.deepEqual(ins.virtual.estimates.map((e) => `${e.kind} ${e.batchSize}`), ['train 16', 'infer 1', 'infer 4']);
    const board = new VirtualDevice('orin-agx', { noise: 0, workloads: [virtualWorkloadOf(withCost)] });
    assert.deepEqual(ins.virtual.estimates[0], { kind: 'train', batchSize: 16, ...board.groundTruth({ workload: 'my-detector', kind: 'train', batchSize: 16, mode: MAXN }) });
    assert.match(ins.virtual.constants, /^borrowed from /);
    const text = formatInspection(ins);
    assert.match(text, /^my-detector — My Detector\n/);
    assert.match(text, /cost {8}from the manifest's cost: section/);
    assert.match(text, /infer 3\.60 GFLOP {3}50\.0 MB {5}0 FLOP {7}47\.0 MB/);
    assert.match(text, /Virtual-board estimate \(virtual orin-agx at MAXN: 12 cores, CPU 2201\.6, GPU 1300\.5, EMC 3199 MHz; a model's prediction, not a measurement\):/);
    assert.match(text, /train batch 16 +[\d.]+ ms +[\d.]+ W/);
    assert.ok(text.split('\n').length <= 30, 'one screen');
  });

  it('columns stay apart and times readable for costs written far too large', () => {
    const ins = inspectWorkload(withCost);
    const huge = {
      ...ins,
      cost: { ...ins.cost, infer: { ...ins.cost.infer, flopsPerSample: 9.5e21, bytesPerSample: 3.2e20, bytesPerBatch: 4.7e19 } },
      virtual: { ...ins.virtual, estimates: ins.virtual.estimates.map((e, i) => ({ ...e, timeMs: [89_119_341.6, 3_713_305.9, 12_345.6][i]! })) },
    };
    const lines = formatInspection(huge).split('\n');
    const infer = lines.find((l) => /^ {14}infer /.test(l))!;
    assert.match(infer, /^ {14}infer \S+ \S+ {2,}\S+ \S+ {2,}\S+ \S+ {2,}\S+ \S+$/, infer);
    assert.match(lines.find((l) => /train batch 16/.test(l))!, /train batch 16 +89119 s {2,}[\d.]+ W$/);
    assert.match(lines.find((l) => /infer batch 4 /.test(l))!, /infer batch 4 +12\.35 s {2,}[\d.]+ W$/);
  });

  it('inspects an ONNX-only folder: the counts, said to be an estimate', () => {
    const ins = inspectWorkload(onnxOnly);
    assert.equal(ins.origin, 'onnx');
    assert.equal(ins.estimated, true);
    assert.match(ins.source, /^counted on model\.onnx \(an estimate: /);
    assert.deepEqual(ins.input, { shape: [16], dtype: 'float32', from: 'onnx' });
    assert.equal(ins.cost.infer.flopsPerSample, MLP_FLOPS);
    assert.equal(ins.cost.train.flopsPerSample, 3 * MLP_FLOPS);
    assert.equal(ins.onnx?.batchDynamic, true);
    assert.equal(ins.onnx?.operators, 3);
    assert.deepEqual(ins.virtual.estimates.map((e) => `${e.kind} ${e.batchSize}`), ['train 8', 'infer 1', 'infer 2', 'infer 8']);
    assert.match(ins.virtual.constants, /^borrowed from bert-large, the closest calibrated workload of the same compute class \(matmul\)/);
    const text = formatInspection(ins);
    assert.match(text, /cost {8}counted on model\.onnx \(an estimate:/);
    assert.match(text, /onnx {8}model\.onnx: opset 13, 3 nodes \(Gemm 2, Relu 1\); 3 counted operators/);
    assert.match(text, /batch dynamic; not counted: nothing/);
  });

  it('inspects a fixed-batch ONNX model and says it cannot be served at other batch sizes', () => {
    const ins = inspectWorkload(fixedBatch);
    assert.equal(ins.onnx?.batchDynamic, false);
    assert.equal(ins.onnx?.fixedBatchSize, 1);
    assert.deepEqual(ins.kinds, ['infer']);
    assert.match(formatInspection(ins), /batch fixed at 1 \(cannot be served at other\s+batch sizes\)/);
  });

  it("inspects a built-in folder with the board's calibrated numbers", () => {
    const r18 = builtinWorkloadFolders().find((f) => f.manifest.name === 'resnet18')!;
    const ins = inspectWorkload(r18);
    const board = new VirtualDevice('orin-agx', { noise: 0 });
    const e = ins.virtual.estimates.find((x) => x.kind === 'infer' && x.batchSize === 4)!;
    assert.deepEqual({ timeMs: e.timeMs, powerW: e.powerW }, board.groundTruth({ workload: 'resnet18', kind: 'infer', batchSize: 4, mode: MAXN }));
    assert.equal(ins.virtual.constants, board.workloadConstants('resnet18').provenance);
  });
});
