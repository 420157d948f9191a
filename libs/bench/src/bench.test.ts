import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from './bench.js';
import { benchJson, formatSummary, summarize } from './report.js';
import { configsPerKey, sweepDefinition } from './sweep.js';

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
  assert.equal(summary.strategies.find((s) => s.strategy === 'als-50')!.meanModes, 50);
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
