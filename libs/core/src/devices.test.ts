import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AGX_XAVIER, DEVICES, ORIN_AGX, ORIN_NANO, assertOnGrid, enumerateModes, getDevice, getGrid, getPreset, gridSize, isOnGrid, maxMode } from './devices.js';
import { parsePowerMode, formatPowerMode, dominatesOrEquals } from './power-mode.js';
import { ValidationError } from './errors.js';

describe('power-mode grids', () => {
  it('Orin AGX: 12 cores × 29 CPU × 13 GPU × 4 EMC = 18,096 modes', () => {
    const g = ORIN_AGX.grid;
    assert.deepEqual([g.cores.length, g.cpuMhz.length, g.gpuMhz.length, g.emcMhz.length], [12, 29, 13, 4]);
    assert.equal(gridSize(g), 18096);
    assert.equal(g.cpuMhz[0], 115.2);
    assert.equal(g.cpuMhz[1], 192);
    assert.equal(g.cpuMhz.at(-2), 2188.8);
    assert.equal(g.cpuMhz.at(-1), 2201.6);
    assert.deepEqual(g.emcMhz, [204, 665.6, 2133, 3199]);
  });

  it('the published Orin AGX sub-grids have 4,368 and 441 modes, all on the full grid', () => {
    for (const [name, size] of [['4368', 4368], ['441', 441]] as const) {
      const sub = getGrid(ORIN_AGX, name);
      assert.equal(gridSize(sub), size);
      let n = 0;
      for (const mode of enumerateModes(sub)) {
        assert.ok(isOnGrid(mode, ORIN_AGX.grid), formatPowerMode(mode));
        n++;
      }
      assert.equal(n, size);
      assert.ok(isOnGrid(maxMode(ORIN_AGX.grid), sub), `${name} contains MAXN`);
    }
    assert.deepEqual(getGrid(ORIN_AGX, '441').cores, [4, 8, 12]);
  });

  it('AGX Xavier: 8 cores, 29 CPU values 115.2–2265.6, 14 GPU values to 1377, 9 EMC values 204–2133', () => {
    const g = AGX_XAVIER.grid;
    assert.deepEqual([g.cores.length, g.cpuMhz.length, g.gpuMhz.length, g.emcMhz.length], [8, 29, 14, 9]);
    assert.equal(g.cpuMhz.at(-1), 2265.6);
    assert.equal(g.gpuMhz.at(-1), 1377);
    assert.equal(g.emcMhz[0], 204);
    assert.equal(g.emcMhz.at(-1), 2133);
  });

  it('every grid is sorted, free of duplicates, and every preset lies on its device grid', () => {
    for (const device of DEVICES) {
      for (const values of Object.values(device.grid)) {
        assert.deepEqual([...values].sort((a, b) => a - b), values, device.id);
        assert.equal(new Set(values).size, values.length, device.id);
      }
      for (const preset of device.presets) assert.doesNotThrow(() => assertOnGrid(preset.mode, device.grid, device.id), `${device.id} ${preset.name}`);
    }
    assert.ok(ORIN_NANO.notes?.includes('documentation'));
  });

  it('enumerates each mode once', () => {
    const sub = getGrid(ORIN_AGX, '441');
    const keys = new Set([...enumerateModes(sub)].map(formatPowerMode));
    assert.equal(keys.size, 441);
  });

  it('presets resolve by name, case-insensitively', () => {
    assert.deepEqual(getPreset(ORIN_AGX, 'maxn').mode, { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 });
    assert.equal(getPreset(ORIN_AGX, '15W').mode.cores, 4);
  });
});

describe('grid validation errors', () => {
  it('an off-grid GPU clock names the knob and the nearest values', () => {
    assert.throws(
      () => assertOnGrid({ cores: 12, cpuMhz: 2201.6, gpuMhz: 1000, emcMhz: 3199 }, ORIN_AGX.grid, 'orin-agx'),
      (e: unknown) =>
        e instanceof ValidationError &&
        e.field === 'mode.gpuMhz' &&
        e.message === 'mode.gpuMhz: 1000 is not on the orin-agx grid (mode 12,2201.6,1000,3199); nearest GPU MHz values: 930.75, 1032.75',
    );
  });
  it('too many cores is off-grid', () => {
    assert.throws(() => assertOnGrid({ cores: 16, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, ORIN_AGX.grid, 'orin-agx'), /mode\.cores: 16 is not on the orin-agx grid.*nearest core count values: 12/);
  });
  it('unknown device, grid and preset list what is known', () => {
    assert.throws(() => getDevice('orin-agx2'), /^ValidationError: device: unknown device "orin-agx2"; known devices: orin-agx, agx-xavier, orin-nano$/);
    assert.throws(() => getGrid(ORIN_AGX, '999'), /grid: unknown grid "999" for orin-agx; known grids: full, 441, 4368/);
    assert.throws(() => getPreset(ORIN_AGX, '20W'), /preset: unknown preset "20W" for orin-agx; known presets: MAXN, 15W, 30W, 50W/);
  });
});

describe('power-mode text', () => {
  it('parses and formats CORES,CPU,GPU,EMC', () => {
    const mode = parsePowerMode('12, 2201.6,1300.5,3199');
    assert.deepEqual(mode, { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 });
    assert.equal(formatPowerMode(mode), '12,2201.6,1300.5,3199');
  });
  it('rejects malformed text with the field name', () => {
    assert.throws(() => parsePowerMode('12,2201.6,1300.5', '--mode'), /^ValidationError: --mode: expected CORES,CPU_MHZ,GPU_MHZ,EMC_MHZ/);
    assert.throws(() => parsePowerMode('12,fast,1300.5,3199', '--mode'), /--mode\.cpuMhz: must be a positive number, got "fast"/);
    assert.throws(() => parsePowerMode('2.5,2201.6,1300.5,3199'), /mode\.cores: must be a whole number/);
  });
  it('orders modes knob by knob', () => {
    const low = { cores: 4, cpuMhz: 729.6, gpuMhz: 318.75, emcMhz: 665.6 };
    const high = maxMode(ORIN_AGX.grid);
    assert.equal(dominatesOrEquals(high, low), true);
    assert.equal(dominatesOrEquals(low, high), false);
    assert.equal(dominatesOrEquals({ ...high, cores: 2 }, low), false);
  });
});
