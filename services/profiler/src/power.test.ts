import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ModeDriftError, NoPowerSamplesError, windowPower } from './power.js';

const MODE = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const at = (atMs: number, powerW: number, mode = MODE) => ({ atMs, powerW, mode });
const window = { windowStartMs: 1000, windowEndMs: 2000, warmupStartMs: 500, minSamples: 3, intervalMs: 100 };

describe('windowPower', () => {
  it('averages the samples inside the measured window only', () => {
    const samples = [at(400, 5), at(900, 30), at(1000, 40), at(1500, 42), at(2000, 44), at(2100, 5)];
    const p = windowPower(samples, window, MODE);
    assert.equal(p.method, 'window');
    assert.equal(p.samples, 3);
    assert.equal(p.powerW, 42);
  });

  it('tops a short window up with warm-up samples, nearest first, never idle ones before the warm-up', () => {
    const samples = [at(400, 5), at(600, 30), at(900, 32), at(1500, 40)];
    const p = windowPower(samples, window, MODE);
    assert.equal(p.method, 'window+warmup');
    assert.equal(p.samples, 3);
    assert.equal(p.powerW, (40 + 32 + 30) / 3);
    const noWarmup = windowPower(samples, { ...window, warmupStartMs: 1000 }, MODE);
    assert.equal(noWarmup.method, 'window');
    assert.equal(noWarmup.samples, 1);
  });

  it('falls back to the one sample nearest the window, within one interval, and fails beyond', () => {
    const p = windowPower([at(100, 5), at(2050, 41)], { ...window, warmupStartMs: 1000 }, MODE);
    assert.deepEqual([p.method, p.samples, p.powerW], ['nearest', 1, 41]);
    assert.throws(() => windowPower([at(100, 5), at(2500, 41)], { ...window, warmupStartMs: 1000 }), NoPowerSamplesError);
  });

  it('reports a sample taken at another mode as drift (a read-back rounding is not)', () => {
    assert.throws(() => windowPower([at(1500, 40, { ...MODE, gpuMhz: 420.75 })], window, MODE), ModeDriftError);
    assert.equal(windowPower([at(1500, 40, { ...MODE, gpuMhz: 1300.500001 })], window, MODE).powerW, 40);
  });
});
