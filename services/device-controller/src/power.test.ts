import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ValidationError } from '@fulcrum/core';
import { readBoardIdentity } from './board.js';
import { openSysfs } from './fake-sysfs.js';
import { PowerCapError, checkPowerCap, parseProfilePower } from './power-cap.js';
import { JetsonSensors, boardTotal, findIna3221Channels, startSampler } from './power.js';
import { parseTegrastatsLine, tegrastatsTotal } from './tegrastats.js';
import { fakeTree } from './test-support.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function sensorsFor(board: 'orin-agx' | 'agx-xavier' | 'orin-nano', rails?: Record<string, { mV: number; mA: number }>) {
  const tree = await fakeTree(board, rails ? { rails } : {});
  cleanups.push(tree.cleanup);
  const io = openSysfs(tree.root);
  return { root: tree.root, sensors: await JetsonSensors.open(io, await readBoardIdentity(io)) };
}

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;

describe('INA3221 power', () => {
  it('Orin AGX: total = VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 from the rail files (mV × mA / 10⁶)', async () => {
    const { sensors } = await sensorsFor('orin-agx', {
      VDD_GPU_SOC: { mV: 5080, mA: 2000 }, // 10.16 W
      VDD_CPU_CV: { mV: 5000, mA: 1500 }, // 7.5 W
      VIN_SYS_5V0: { mV: 4960, mA: 1250 }, // 6.2 W
      VDDQ_VDD2_1V8AO: { mV: 5000, mA: 400 }, // 2 W, inside VIN_SYS_5V0: not added
    });
    const p = await sensors.readPower();
    assert.deepEqual(p.totalRails, ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0']);
    assert.ok(close(p.powerW, 10.16 + 7.5 + 6.2), String(p.powerW));
    assert.deepEqual(p.rails.map((r) => r.rail), ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0', 'VDDQ_VDD2_1V8AO'], 'NC channels skipped');
    assert.ok(close(p.rails[0]!.powerW, 10.16));
    assert.equal(p.note, undefined);
  });

  it('AGX Xavier: six rails over two INA3221s at other hwmon indices', async () => {
    const { sensors } = await sensorsFor('agx-xavier', {
      GPU: { mV: 19000, mA: 500 },
      CPU: { mV: 19000, mA: 200 },
      SOC: { mV: 19000, mA: 100 },
      CV: { mV: 19000, mA: 0 },
      VDDRQ: { mV: 19000, mA: 50 },
      SYS5V: { mV: 5000, mA: 600 },
    });
    const p = await sensors.readPower();
    assert.deepEqual(p.totalRails, ['GPU', 'CPU', 'SOC', 'CV', 'VDDRQ', 'SYS5V']);
    assert.ok(close(p.powerW, (19000 * 850 + 5000 * 600) / 1e6), String(p.powerW));
  });

  it('Orin Nano: the module input VDD_IN is the total', async () => {
    const { sensors } = await sensorsFor('orin-nano', { VDD_IN: { mV: 5000, mA: 1400 } });
    const p = await sensors.readPower();
    assert.deepEqual(p.totalRails, ['VDD_IN']);
    assert.ok(close(p.powerW, 7));
  });

  it('globs the hwmon index and skips NC and the shunt-sum channel', async () => {
    const { root } = await sensorsFor('orin-agx');
    const channels = await findIna3221Channels(openSysfs(root));
    assert.deepEqual(
      channels.map((c) => [c.rail, c.voltagePath]),
      [
        ['VDD_GPU_SOC', '/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1/in1_input'],
        ['VDD_CPU_CV', '/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1/in2_input'],
        ['VIN_SYS_5V0', '/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1/in3_input'],
        ['VDDQ_VDD2_1V8AO', '/sys/bus/i2c/drivers/ina3221/1-0041/hwmon/hwmon2/in2_input'],
      ],
    );
  });

  it('falls back when the board rails are not all there', () => {
    const rails = [{ rail: 'VDD_IN', powerW: 9 }, { rail: 'VDD_SOC', powerW: 2 }];
    const t = boardTotal(rails, ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0']);
    assert.equal(t.powerW, 9);
    assert.match(t.note ?? '', /module input VDD_IN/);
    const all = boardTotal([{ rail: 'A', powerW: 1 }, { rail: 'B', powerW: 2.5 }], ['X']);
    assert.equal(all.powerW, 3.5);
    assert.match(all.note ?? '', /summing every rail/);
  });

  it('reads temperatures and current clocks without root', async () => {
    const { root } = await sensorsFor('orin-agx');
    const io = openSysfs(root);
    const identity = await readBoardIdentity(io);
    const { discoverJetson } = await import('./discover.js');
    const sensors = await JetsonSensors.open(io, identity, await discoverJetson(io));
    const r = await sensors.read();
    assert.equal(r.temperaturesC['gpu-thermal'], 47.625);
    assert.equal(r.temperaturesC['tj-thermal'], 52.968);
    assert.deepEqual(r.clocks, { cpuMhz: { policy0: 2201.6, policy4: 2201.6, policy8: 2201.6 }, gpuMhz: 1300.5 });
    // A zone whose sensor is off (EINVAL-like text) is left out rather than reported as NaN.
    await writeFile(join(root, '/sys/class/thermal/thermal_zone1/temp'), 'invalid\n');
    assert.equal((await sensors.readTemperatures())['gpu-thermal'], undefined);
  });

  it('a board without INA3221 files has no rails (the controller then uses tegrastats)', async () => {
    const { root } = await sensorsFor('orin-agx');
    await rm(join(root, '/sys/bus/i2c/drivers/ina3221'), { recursive: true });
    const io = openSysfs(root);
    const sensors = await JetsonSensors.open(io, await readBoardIdentity(io));
    assert.equal(sensors.hasRails, false);
  });

  it('samples at the configured interval, one at a time, and keeps going after an error', async () => {
    const seen: number[] = [];
    const errors: unknown[] = [];
    let calls = 0;
    await new Promise<void>((resolve) => {
      const sampler = startSampler(
        5,
        async () => {
          calls++;
          if (calls === 2) throw new Error('sensor hiccup');
          return calls;
        },
        (v, seq) => {
          seen.push(seq);
          if (v >= 4) void sampler.stop().then(resolve);
        },
        (err) => errors.push(err),
      );
    });
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(errors.length, 1);
    assert.throws(() => startSampler(0, async () => 1, () => undefined), /interval/);
  });
});

describe('tegrastats fallback', () => {
  const orin =
    'RAM 2642/62817MB (lfb 1x2MB) SWAP 0/31408MB (cached 0MB) CPU [23%@2201,10%@2201,off,off,30%@2201,18%@2201,10%@2201,10%@2201,33%@2201,7%@2201,5%@2201,27%@2201] ' +
    'EMC_FREQ 3%@3199 GR3D_FREQ 12%@[1300,1300] NVENC off VIC off APE 174 ' +
    'cpu@52.968C soc2@48.406C soc0@49.531C gpu@47.625C tj@52.968C ' +
    'VDD_GPU_SOC 5139mW/5100mW VDD_CPU_CV 3268mW/3200mW VIN_SYS_5V0 5500mW/5480mW VDDQ_VDD2_1V8AO 1200mW/1190mW';
  const xavier =
    'RAM 1545/31919MB (lfb 7400x4MB) SWAP 2/15959MB (cached 1MB) CPU [0%@1190,1%@1190,off,off,off,off,off,off] EMC_FREQ 1%@408 GR3D_FREQ 12%@318 ' +
    'AO@38C GPU@39.5C CPU@40C thermal@38.8C GPU 120/100 CPU 468/450 SOC 937/900 CV 0/0 VDDRQ 312/234 SYS5V 1458/1400';

  it('parses an Orin line: rails, temperatures, CPU, EMC and GPU clocks', () => {
    const r = parseTegrastatsLine(orin);
    assert.deepEqual(r.rails.map((x) => [x.rail, x.powerW]), [
      ['VDD_GPU_SOC', 5.139],
      ['VDD_CPU_CV', 3.268],
      ['VIN_SYS_5V0', 5.5],
      ['VDDQ_VDD2_1V8AO', 1.2],
    ]);
    assert.equal(r.temperaturesC['gpu'], 47.625);
    assert.equal(r.cpus.length, 12);
    assert.equal(r.cpus[2], null);
    assert.deepEqual(r.cpus[0], { loadPct: 23, mhz: 2201 });
    assert.deepEqual(r.emc, { loadPct: 3, mhz: 3199 });
    assert.deepEqual(r.gpu, { loadPct: 12, mhz: 1300 });
    const t = tegrastatsTotal(r, ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0']);
    assert.ok(close(t.powerW, 5.139 + 3.268 + 5.5));
  });

  it('parses a JetPack 4 Xavier line (rails without units), never mistaking RAM or SWAP for a rail', () => {
    const r = parseTegrastatsLine(xavier);
    assert.deepEqual(r.rails.map((x) => x.rail), ['GPU', 'CPU', 'SOC', 'CV', 'VDDRQ', 'SYS5V']);
    assert.equal(r.rails[1]!.powerW, 0.468);
    assert.equal(r.temperaturesC['GPU'], 39.5);
    assert.deepEqual(r.gpu, { loadPct: 12, mhz: 318 });
    const t = tegrastatsTotal(r, ['GPU', 'CPU', 'SOC', 'CV', 'VDDRQ', 'SYS5V']);
    assert.ok(close(t.powerW, (120 + 468 + 937 + 0 + 312 + 1458) / 1000));
  });
});

describe('power cap', () => {
  const csv = [
    'device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w',
    'orin-agx,resnet50,train,16,12,2201.6,1300.5,3199,210,48.5',
    'orin-agx,resnet50,infer,8,12,2201.6,1300.5,3199,30,44.0',
    'orin-agx,resnet50,train,16,4,1113.6,420.75,2133,800,14.2',
    'agx-xavier,resnet50,train,16,8,2265.6,1377,2133,300,30',
  ].join('\n');

  it('known power is the highest of any workload in that mode, per device', () => {
    const p = parseProfilePower(csv, 'orin-agx');
    assert.equal(p.modes, 2);
    assert.equal(p.rows, 3);
    assert.equal(p.lookup({ cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }), 48.5);
    assert.equal(p.lookup({ cores: 8, cpuMhz: 2265.6, gpuMhz: 1377, emcMhz: 2133 }), undefined);
  });

  it('refuses a mode known to be over the cap; unknown modes pass', () => {
    const { lookup } = parseProfilePower(csv, 'orin-agx');
    const maxn = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
    assert.throws(() => checkPowerCap(maxn, 40, lookup), (err: unknown) => err instanceof PowerCapError && err.knownPowerW === 48.5 && /over the hard power cap of 40 W/.test(err.message));
    checkPowerCap(maxn, 50, lookup);
    checkPowerCap({ ...maxn, cores: 11 }, 40, lookup);
    checkPowerCap(maxn, undefined, lookup);
    checkPowerCap(maxn, 0, lookup);
  });

  it('rejects a profile without the needed columns', () => {
    assert.throws(() => parseProfilePower('device,workload\nx,y'), (err: unknown) => err instanceof ValidationError && /lacks column/.test(err.message));
  });
});
