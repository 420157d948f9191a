import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from './bench.js';
import { benchJson, formatSummary, summarize, withLabelOffsets } from './report.js';
import { configsPerKey, sweepDefinition } from './sweep.js';
import { DEFAULT_ALS_OPTIONS, oracle } from '@fulcrum/strategies';
import { openBackend } from './backend-spec.js';
import { runKey } from './engine.js';

test('the paper sweep covers ≥ 250,000 configurations over ≥ 15 workload variants', () => {
  const workloads = ['mobilenet', 'resnet18', 'resnet50', 'vgg16', 'yolov8n', 'bert-base', 'bert-large', 'lstm'];
  const paper = sweepDefinition('paper', workloads);
  const total = paper.parts.reduce((n, p) => n + p.keys.length * configsPerKey(p), 0);
  assert.ok(total >= 250_000, String(total));
  const variants = new Set(paper.parts.flatMap((p) => p.keys.flatMap((k) => [`train:${k.train}`, ...k.infer.map((i) => `infer:${i}`)])));
  assert.ok(variants.size >= 15);
});

test('quick sweep on the virtual Orin AGX: the summary has every strategy, the oracle scores X/X* = 1', async () => {
  const strategies = ['oracle', 'gmd', 'als-50', 'random-15', 'maxn'];
  const run = await runBench({ backend: { type: 'virtual', device: 'orin-agx' }, strategies, sweep: 'quick', workers: 1 });
  const summary = summarize(run);
  assert.equal(summary.configurations, 108);
  assert.equal(summary.keys, 3);
  assert.deepEqual(summary.strategies.map((s) => s.strategy), strategies);
  assert.ok(summary.oracleFeasible > 0 && summary.oracleFeasible <= 108);
  const oracle = summary.strategies[0]!;
  assert.equal(oracle.feasiblePct, 100);
  assert.equal(oracle.meanRatio, 1);
  assert.equal(oracle.p10Ratio, 1);
  assert.equal(oracle.meanModes, 0);
  for (const s of summary.strategies) {
    assert.ok(s.feasiblePct >= 0 && s.feasiblePct <= 100);
    assert.ok(s.meanRatio >= 0 && s.meanRatio <= 1 + 1e-9, `${s.strategy} ${s.meanRatio}`);
    assert.ok(s.p10Ratio <= s.meanRatio + 1e-9);
  }
  assert.equal(summary.strategies.find((s) => s.strategy === 'maxn')!.maxModes, 1);
  assert.ok(summary.strategies.find((s) => s.strategy === 'gmd')!.maxModes <= 15);
  // ALS-50: its 50 modes, and a few more for a problem none of them meets (the repair).
  const als50 = summary.strategies.find((s) => s.strategy === 'als-50')!;
  assert.ok(als50.meanModes >= 50 && als50.maxModes <= 50 + DEFAULT_ALS_OPTIONS.repairModes, `${als50.meanModes} / ${als50.maxModes}`);
  const text = formatSummary(summary);
  for (const s of strategies) assert.match(text, new RegExp(`│ ${s} `));
  const json = benchJson(run, summary) as { keys: { results: Record<string, { ratio: number[] }> }[] };
  assert.equal(json.keys.length, 3);
  assert.equal(json.keys[0]!.results['oracle']!.ratio.length, 36);
});

test('re-measures are charged per configuration and undone after it: a strategy scores the same alone or after others', async () => {
  const alone = await runBench({ backend: { type: 'virtual', device: 'orin-agx' }, strategies: ['gmd'], sweep: 'quick', workers: 1 });
  const after = await runBench({ backend: { type: 'virtual', device: 'orin-agx' }, strategies: ['als-50', 'gmd'], sweep: 'quick', workers: 1 });
  const a = summarize(alone).strategies[0]!;
  const b = summarize(after).strategies[1]!;
  assert.ok(a.meanRemeasures > 0 && a.maxRemeasures <= 3, `${a.meanRemeasures} / ${a.maxRemeasures}`);
  assert.ok(summarize(after).strategies[0]!.meanRemeasures > 0);
  for (let k = 0; k < alone.keys.length; k++) {
    const x = alone.keys[k]!.strategies[0]!;
    const y = after.keys[k]!.strategies[1]!;
    assert.deepEqual(Array.from(y.ratio), Array.from(x.ratio));
    assert.deepEqual(Array.from(y.remeasures), Array.from(x.remeasures));
    assert.deepEqual(Array.from(y.seconds), Array.from(x.seconds));
  }
  assert.match(formatSummary(summarize(alone)), /re-measures \(mean\)/);
});

test('the cost-vs-quality plot moves a label off another that it would print over, and leaves lone labels on their points', () => {
  const points = [
    { strategy: 'als-100', modes: 100, ratio: 0.906 },
    { strategy: 'als-150', modes: 150, ratio: 0.916 },
    { strategy: 'oracle', modes: 0.5, ratio: 1 },
    { strategy: 'maxn', modes: 1, ratio: 0.11 },
  ];
  const placed = withLabelOffsets(points, 480, 300);
  const at = (name: string) => placed.find((p) => p.strategy === name)!;
  assert.equal(at('oracle').labelRatio, 1);
  assert.equal(at('maxn').labelRatio, 0.11);
  assert.equal(at('als-150').labelRatio, 0.916, 'the higher point keeps its place');
  // One line (11 px) on a 300-px plot of ratios 0.11–1: about 0.04 below or above.
  const moved = Math.abs(at('als-100').labelRatio - 0.906);
  assert.ok(moved > 0.02 && moved < 0.1, `als-100's label moved by ${moved}`);
});

test('the oracle column is X*’s own plan: the same as running the oracle strategy, configuration by configuration', async () => {
  const backend = await openBackend({ type: 'virtual', device: 'orin-agx' });
  const part = sweepDefinition('quick', ['mobilenet', 'resnet18', 'bert-base']).parts[0]!;
  const spec = part.keys[0]!;
  // A copy of the oracle runs its own search; the registered oracle takes the engine's X* plan.
  const searched = runKey(backend, [{ ...oracle, name: 'oracle-copy' }], part, spec);
  const shared = runKey(backend, [oracle], part, spec);
  const a = searched.strategies[0]!;
  const b = shared.strategies[0]!;
  assert.ok(searched.oracleFeasible.some((f) => f === 0) && searched.oracleFeasible.some((f) => f === 1), 'the key has feasible and infeasible configurations');
  assert.deepEqual(Array.from(b.feasible), Array.from(a.feasible));
  assert.deepEqual(Array.from(b.claimedFeasible), Array.from(a.claimedFeasible));
  assert.deepEqual(Array.from(b.ratio), Array.from(a.ratio));
  assert.deepEqual(Array.from(b.feasible), Array.from(searched.oracleFeasible));
});
