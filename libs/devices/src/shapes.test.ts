/**
 * The shapes of SPEC §3, checked exhaustively over the whole 18,096-mode Orin AGX grid (and the
 * AGX Xavier grid) for every workload: training at its batch size and inference at 1, 8 and 64.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AGX_XAVIER, ORIN_AGX, formatPowerMode, getWorkload, workloadIds, type WorkloadKind } from '@fulcrum/core';
import { VirtualDevice } from './virtual.js';
import { getWorkloadCost, minibatchCost } from './workload-costs.js';
import type { GroundTruthTable } from './backend.js';

const orin = new VirtualDevice('orin-agx', { noise: 0 });
const xavier = new VirtualDevice('agx-xavier', { noise: 0 });
const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };

function variants(): [string, WorkloadKind, number][] {
  const out: [string, WorkloadKind, number][] = [];
  for (const w of workloadIds()) {
    out.push([w, 'train', getWorkload(w).defaultTrainBatchSize]);
    for (const b of [1, 8, 64]) out.push([w, 'infer', b]);
  }
  return out;
}

/** For every mode and every knob, compares the mode with its neighbour one step up that knob. */
function checkMonotone(t: GroundTruthTable): void {
  const idx = t.index;
  const g = idx.grid;
  const lens = [g.cores.length, g.cpuMhz.length, g.gpuMhz.length, g.emcMhz.length];
  const names = ['cores', 'CPU clock', 'GPU clock', 'EMC clock'];
  for (let i = 0; i < idx.size; i++) {
    const time = t.timeMs[i]!;
    const power = t.powerW[i]!;
    assert.ok(Number.isFinite(time) && time > 0 && Number.isFinite(power) && power > 0, `${t.workload} finite at ${formatPowerMode(idx.modeAt(i))}`);
    const k = idx.knobIndices(i);
    for (let knob = 0; knob < 4; knob++) {
      if (k[knob]! + 1 >= lens[knob]!) continue;
      const up = [...k] as [number, number, number, number];
      up[knob]!++;
      const j = idx.fromKnobIndices(...up);
      const where = () => `${t.workload} ${t.kind} b=${t.batchSize}: ${formatPowerMode(idx.modeAt(i))} → ${formatPowerMode(idx.modeAt(j))} (${names[knob]})`;
      if (t.timeMs[j]! > time * (1 + 1e-12)) assert.fail(`time rises with ${where()}: ${time} → ${t.timeMs[j]}`);
      if (!(t.powerW[j]! > power)) assert.fail(`power does not rise with ${where()}: ${power} → ${t.powerW[j]}`);
    }
  }
}

describe('virtual device shapes over the whole grid', () => {
  it('Orin AGX: 18,096 modes, every workload variant: time never rises and power always rises with any knob', () => {
    for (const [w, kind, b] of variants()) {
      const t = orin.groundTruthTable(w, kind, b);
      assert.equal(t.index.size, 18096);
      checkMonotone(t);
    }
  });

  it('AGX Xavier (uncalibrated, scaled): the same monotonicity over its 29,232 modes', () => {
    for (const [w, kind, b] of variants().filter(([, , b]) => b !== 64)) checkMonotone(xavier.groundTruthTable(w, kind, b));
  });

  it('GPU clock: time falls steeply, then plateaus (convex; the top third of the clock range buys < 15% of the gain)', () => {
    const gpus = ORIN_AGX.grid.gpuMhz;
    const topThird = gpus.findIndex((g) => g >= gpus.at(-1)! * (2 / 3));
    for (const [w, kind, b] of variants()) {
      const t = orin.groundTruthTable(w, kind, b);
      const idx = t.index;
      for (let i = 0; i < idx.size; i++) {
        const [c, p, g, e] = idx.knobIndices(i);
        if (g !== 0) continue;
        const series = gpus.map((_, gi) => t.timeMs[idx.fromKnobIndices(c, p, gi, e)]!);
        const gain = series[0]! - series.at(-1)!;
        if (gain < 1e-9 * series[0]!) continue;
        // convex: the time saved per MHz never grows as the clock rises
        for (let k = 1; k + 1 < gpus.length; k++) {
          const d1 = (series[k - 1]! - series[k]!) / (gpus[k]! - gpus[k - 1]!);
          const d2 = (series[k]! - series[k + 1]!) / (gpus[k + 1]! - gpus[k]!);
          assert.ok(d2 <= d1 * (1 + 1e-9) + 1e-12, `${w} ${kind} b=${b} not convex in GPU clock at ${formatPowerMode(idx.modeAt(i))}`);
        }
        const late = series[topThird]! - series.at(-1)!;
        assert.ok(late < 0.15 * gain, `${w} ${kind} b=${b}: top third of the GPU range gives ${((100 * late) / gain).toFixed(1)}% of the gain`);
      }
    }
  });

  it('EMC 204/665.6 MHz hurt memory-bound models most', () => {
    // Arithmetic intensity (FLOP/byte) of a 16-sample inference minibatch, from the analytical costs.
    const ai = (w: string) => {
      const c = minibatchCost(getWorkloadCost(w), 'infer', 16);
      return c.flops / c.bytes;
    };
    const slowdown = (w: string, emc: number) =>
      orin.groundTruth({ mode: { ...MAXN, emcMhz: emc }, workload: w, kind: 'infer', batchSize: 16 }).timeMs /
      orin.groundTruth({ mode: MAXN, workload: w, kind: 'infer', batchSize: 16 }).timeMs;
    // Memory-bound: arithmetic intensity below the roofline's ridge point (peak FLOP/s ÷ peak bytes/s ≈ 26
    // FLOP/byte on Orin); compute-bound above it. The LSTM is left out: at batch 16 it is bound by the CPU side.
    const ridge = orin.physics.gpuPeakFlopsPerS / orin.physics.memPeakBytesPerS;
    const models = workloadIds().filter((w) => w !== 'lstm');
    const memoryBound = models.filter((w) => ai(w) < ridge);
    const computeBound = models.filter((w) => ai(w) >= ridge);
    assert.deepEqual(memoryBound, ['mobilenet', 'yolov8n']);
    for (const emc of [204, 665.6]) {
      for (const a of memoryBound)
        for (const b of computeBound) {
          assert.ok(slowdown(a, emc) > slowdown(b, emc), `EMC ${emc}: ${a} (AI ${ai(a).toFixed(1)}) ×${slowdown(a, emc).toFixed(2)} vs ${b} (AI ${ai(b).toFixed(1)}) ×${slowdown(b, emc).toFixed(2)}`);
        }
    }
    assert.ok(slowdown('mobilenet', 204) > 10 && slowdown('vgg16', 204) < 5);
  });

  it('CPU clock and cores matter mainly at batch 1 and for training data loading', () => {
    for (const w of workloadIds()) {
      const t = (mode: typeof MAXN, kind: WorkloadKind, b: number) => orin.groundTruth({ mode, workload: w, kind, batchSize: b }).timeMs;
      const lowCpu = { ...MAXN, cpuMhz: 422.4 };
      const cpuEffect = (b: number) => t(lowCpu, 'infer', b) / t(MAXN, 'infer', b);
      assert.ok(cpuEffect(1) >= cpuEffect(64), `${w}: CPU clock matters more at batch 1 (${cpuEffect(1).toFixed(2)}) than at 64 (${cpuEffect(64).toFixed(2)})`);
      const fewCores = { ...MAXN, cores: 2 };
      const coreEffect = (kind: WorkloadKind, b: number) => t(fewCores, kind, b) / t(MAXN, kind, b);
      const bT = getWorkload(w).defaultTrainBatchSize;
      assert.ok(coreEffect('train', bT) >= coreEffect('infer', bT), `${w}: cores matter more for training (data loading) than for inference`);
      assert.ok(coreEffect('infer', 64) <= coreEffect('infer', 1) && coreEffect('infer', 64) < 1.1, `${w}: cores barely matter for large-batch inference`);
    }
    // Vision training is data-loading bound on two slow cores; inference at batch 1 is launch bound.
    const r50 = (mode: typeof MAXN, kind: WorkloadKind, b: number) => orin.groundTruth({ mode, workload: 'resnet50', kind, batchSize: b }).timeMs;
    assert.ok(r50({ ...MAXN, cores: 2, cpuMhz: 729.6 }, 'train', 16) > 1.5 * r50(MAXN, 'train', 16));
    assert.ok(r50({ ...MAXN, cpuMhz: 422.4 }, 'infer', 1) > 3 * r50(MAXN, 'infer', 1));
  });

  it('power rises with utilisation: larger inference batches draw more at MAXN', () => {
    for (const w of workloadIds()) {
      const p = (b: number) => orin.groundTruth({ mode: MAXN, workload: w, kind: 'infer', batchSize: b }).powerW;
      assert.ok(p(64) > p(1), w);
    }
    assert.equal(AGX_XAVIER.grid.cores.length, 8);
  });
});
