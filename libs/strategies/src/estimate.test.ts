import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVirtualDevice } from '@fulcrum/devices';
import { DEFAULT_CANDIDATE_BATCH_SIZES } from '@fulcrum/core';
import { fromDeviceBackend } from './devices.js';
import { noiseAwarePower } from './estimate.js';
import { Planner, marginsFor } from './strategy.js';
import { modeMargins } from './objective.js';
import { createRng, sample } from './rng.js';
import type { TableKey } from './table.js';

const key: TableKey = {
  device: 'orin-agx',
  trainWorkload: 'resnet18',
  trainBatchSize: 16,
  streams: [{ workload: 'mobilenet', candidateBatchSizes: [...DEFAULT_CANDIDATE_BATCH_SIZES] }],
};

/** `count` random modes of the virtual Orin AGX measured at `noise` (and the truth to score them on). */
function profiled(noise: number | undefined, seed: number, count: number) {
  const backend = fromDeviceBackend(createVirtualDevice('orin-agx', noise === undefined ? {} : { noise }));
  const planner = new Planner(backend);
  const cache = planner.store.cache(key);
  const modes = sample(createRng(seed), Array.from(backend.space.indices), count);
  cache.ensureSync(modes);
  return { backend, cache, modes, truth: planner.store.truth(key)! };
}

function rmsLogError(values: Float64Array, truth: Float64Array, modes: readonly number[], scale = 1): number {
  let s = 0;
  for (const m of modes) s += Math.log(values[m]! / scale / truth[m]!) ** 2;
  return Math.sqrt(s / modes.length);
}

test('noise-aware power estimates on 150 profiled modes are closer to the truth than the measurements', () => {
  const { backend, cache, modes, truth } = profiled(undefined, 7, 150);
  const margins = marginsFor(backend.noiseFraction);
  const z = 3;
  const est = noiseAwarePower(backend.space, cache.table, modes, margins, { noise: backend.noiseFraction, z });
  assert.equal(est.margins.powerFraction, 0);
  assert.equal(est.margins.timeFraction, margins.timeFraction);
  const columns = [
    [cache.table.trainPowerW, est.table.trainPowerW, truth.trainPowerW, est.sigma[0]!],
    ...cache.table.inferPowerW[0]!.map((col, b) => [col, est.table.inferPowerW[0]![b]!, truth.inferPowerW[0]![b]!, est.sigma[1 + b]!] as const),
  ] as const;
  for (const [raw, inflated, exact, sigma] of columns) {
    assert.ok(sigma < backend.noiseFraction, `combined σ ${sigma} below the noise`);
    const rawErr = rmsLogError(raw, exact, modes);
    const estErr = rmsLogError(inflated, exact, modes, 1 + z * sigma);
    assert.ok(estErr < rawErr, `estimate error ${estErr} < measurement error ${rawErr}`);
  }
  // Times are the measurements as they are.
  for (const m of modes) assert.equal(est.table.trainTimeS[m], cache.table.trainTimeS[m]);
});

test('with no noise, or too few modes for a fit, the estimates are the measurements with the plain margin', () => {
  const { backend, cache, modes } = profiled(0, 3, 60);
  const exact = noiseAwarePower(backend.space, cache.table, modes, marginsFor(0), { noise: 0, z: 3 });
  for (const m of modes) assert.equal(exact.table.trainPowerW[m], cache.table.trainPowerW[m]);
  const few = modes.slice(0, 10);
  const margins = marginsFor(0.025);
  const plain = noiseAwarePower(backend.space, cache.table, few, margins, { noise: 0.025, z: 3 });
  for (const m of few) assert.ok(Math.abs(plain.table.trainPowerW[m]! - cache.table.trainPowerW[m]! * (1 + margins.powerFraction)) < 1e-12);
});

test('the estimates weigh each measurement by the standard error it carries, not the configured noise: a board measured more precisely gets smaller margins', () => {
  // Measured at 0.5 % noise, while the optimizer is configured for 2.5 % (its default).
  const { backend, cache, modes } = profiled(0.005, 11, 150);
  const margins = marginsFor(0.025, { systematicFraction: backend.systematicFraction });
  const est = noiseAwarePower(backend.space, cache.table, modes, margins, { noise: 0.025, z: 3 });
  // With σₙ = 2.5 % taken as the measurements' noise, every column's σ came out near 1.3 %.
  for (const sigma of est.sigma) assert.ok(sigma < 0.008, `combined σ ${sigma} follows the measured 0.5 %, not the configured 2.5 %`);
  for (const m of modes) {
    // The power margin is in the estimate; the time margin is z·SE with the systematic part, as for any measured mode.
    const got = modeMargins(est.table, m, est.margins);
    assert.equal(got.powerFraction, 0);
    assert.ok(Math.abs(got.timeFraction - modeMargins(cache.table, m, margins).timeFraction) < 1e-12, `mode ${m}: time margin ${got.timeFraction}`);
    assert.ok(got.timeFraction < margins.timeFraction / 2, 'below the configured fraction');
  }
});
