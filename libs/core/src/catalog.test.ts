import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_CATALOG, catalogWith, userWorkload } from './catalog.js';
import { ORIN_AGX, type DeviceSpec } from './devices.js';
import { ValidationError } from './errors.js';
import { validateProblem } from './problem.js';

const myOrin: DeviceSpec = {
  id: 'my-orin',
  displayName: 'my-orin',
  grid: { cores: [4, 8], cpuMhz: [1000, 2000], gpuMhz: [300, 600, 900], emcMhz: [2000, 3000] },
  subGrids: {},
  presets: [],
};

describe('catalog', () => {
  it('the built-in catalog holds the built-in boards and workloads', () => {
    assert.deepEqual(BUILTIN_CATALOG.deviceIds(), ['orin-agx', 'agx-xavier', 'orin-nano']);
    assert.equal(BUILTIN_CATALOG.workload('resnet18').defaultTrainBatchSize, 32);
    assert.throws(() => BUILTIN_CATALOG.device('my-orin', 'dev'), /^ValidationError: dev: unknown device "my-orin"; known devices: orin-agx/);
  });

  it('catalogWith adds a user device and workloads; a name the base has keeps its descriptor', () => {
    const c = catalogWith(BUILTIN_CATALOG, {
      devices: [myOrin, { ...ORIN_AGX, displayName: 'impostor' }],
      workloads: [userWorkload('my-trainer', 16), userWorkload('my.detector_v2', 8), userWorkload('resnet18', 4)],
    });
    assert.equal(c.device('my-orin').grid.gpuMhz.length, 3);
    assert.equal(c.device('orin-agx').displayName, ORIN_AGX.displayName);
    assert.deepEqual(c.workload('my-trainer'), { id: 'my-trainer', displayName: 'my-trainer', defaultTrainBatchSize: 16 });
    assert.equal(c.workload('resnet18').defaultTrainBatchSize, 32);
    assert.ok(c.workloadIds().includes('my.detector_v2'));
    // The base is unchanged.
    assert.throws(() => BUILTIN_CATALOG.workload('my-trainer'), /unknown workload "my-trainer"/);
  });

  it('refuses names off the rule', () => {
    assert.throws(() => userWorkload('my trainer', 8), (e: unknown) => e instanceof ValidationError && e.field === 'workload' && /letters, digits/.test(e.reason));
    assert.throws(() => userWorkload('x'.repeat(65), 8), /got "x{64}"… \(65 characters\)/);
    assert.throws(() => catalogWith(BUILTIN_CATALOG, { devices: [{ ...myOrin, id: 'my/orin' }] }), /device: a device name must be/);
  });

  it('validateProblem looks names up in the catalog it is given', () => {
    const c = catalogWith(BUILTIN_CATALOG, { devices: [myOrin], workloads: [userWorkload('my-trainer', 16), userWorkload('my-detector', 8)] });
    const input = { device: 'my-orin', trainWorkload: 'my-trainer', powerBudgetW: 20, streams: [{ workload: 'my-detector', arrivalRatePerS: 5, latencyBudgetS: 1 }] };
    const p = validateProblem(input, c);
    assert.equal(p.device, 'my-orin');
    assert.equal(p.trainBatchSize, 16);
    assert.equal(p.streams[0]!.workload, 'my-detector');
    assert.throws(() => validateProblem(input), /device: unknown device "my-orin"/);
  });
});
