import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadOptimizerConfig, optimizerConfigSchema } from './config.js';

describe('optimizer config', () => {
  it('has defaults for everything: the profiler on its default port, GMD, no plan applied, automatic re-plans', () => {
    const c = optimizerConfigSchema.parse({});
    assert.equal(c.profiler.address, '127.0.0.1:50053');
    assert.equal(c.profiler.timeoutS, 600);
    assert.equal(c.executor.address, '127.0.0.1:50052');
    assert.equal(c.executor.apply, false);
    assert.deepEqual(c.defaults, { strategy: 'gmd', device: 'orin-agx', seed: 1 });
    assert.deepEqual(c.replan, { auto: true, rateThreshold: 0.2, noiseSigmas: 4, minIntervalS: 5, allowProfiling: false });
    assert.deepEqual(c.margins, { targetProbability: 0.975, systematicFraction: 0.01, remeasure: true });
  });

  it('margins: a target probability in (0.5, 1) and a systematic fraction ≥ 0 (0 allowed); a bad one names the field', () => {
    const { config } = loadOptimizerConfig({ env: { FULCRUM_MARGINS__TARGET_PROBABILITY: '0.99', FULCRUM_MARGINS__SYSTEMATIC_FRACTION: '0' } });
    assert.deepEqual(config.margins, { targetProbability: 0.99, systematicFraction: 0, remeasure: true });
    assert.throws(() => loadOptimizerConfig({ env: { FULCRUM_MARGINS__TARGET_PROBABILITY: '1' } }), /margins\.targetProbability from env FULCRUM_MARGINS__TARGET_PROBABILITY.*one-sided probability in \(0\.5, 1\)/);
    assert.throws(() => loadOptimizerConfig({ env: { FULCRUM_MARGINS__TARGET_PROBABILITY: '0.4' } }), /margins\.targetProbability/);
    assert.throws(() => loadOptimizerConfig({ env: { FULCRUM_MARGINS__SYSTEMATIC_FRACTION: '-0.1' } }), /margins\.systematicFraction.*≥ 0/);
  });

  it('reads env with the shared naming rule and names the key on a bad value', () => {
    const { config } = loadOptimizerConfig({
      env: { FULCRUM_PROFILER__ADDRESS: 'board:50053', FULCRUM_EXECUTOR__APPLY: 'true', FULCRUM_DEFAULTS__STRATEGY: 'als-50', FULCRUM_REPLAN__RATE_THRESHOLD: '0.3' },
    });
    assert.equal(config.profiler.address, 'board:50053');
    assert.equal(config.executor.apply, true);
    assert.equal(config.defaults.strategy, 'als-50');
    assert.equal(config.replan.rateThreshold, 0.3);
    assert.throws(() => loadOptimizerConfig({ env: { FULCRUM_REPLAN__RATE_THRESHOLD: '-1' } }), /replan\.rateThreshold from env FULCRUM_REPLAN__RATE_THRESHOLD/);
  });
});
