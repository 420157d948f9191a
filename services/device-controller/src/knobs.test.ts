import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AGX_XAVIER, ORIN_AGX, ValidationError, type PowerMode } from '@fulcrum/core';
import { identifyBoard } from './board.js';
import { discoverJetson } from './discover.js';
import { LocalKnobDriver } from './driver.js';
import { FakeKernelIo, clearFakeWriteLog, openSysfs, readFakeWriteLog, setFakeRules, type FakeBoardId } from './fake-sysfs.js';
import { KnobMismatchError, KnobWriteError, writablePaths } from './knobs.js';
import { NEVER_WRITE } from './paths.js';
import { SysfsError } from './sysfs-io.js';
import { fakeTree, readTreeFile, snapshotKnobFiles } from './test-support.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function openBoard(board: FakeBoardId, options: { cpuGovernor?: 'performance' | 'keep'; gpuGovernor?: 'performance' | 'keep' } = {}) {
  const tree = await fakeTree(board);
  cleanups.push(tree.cleanup);
  const io = openSysfs(tree.root);
  assert.ok(io instanceof FakeKernelIo, 'a fake tree gets the kernel emulation');
  const driver = await LocalKnobDriver.open({ io, ...options });
  return { root: tree.root, io, driver, board: await driver.describe() };
}

const short = (path: string): string => path.split('/').slice(-2).join('/');

describe('board identification', () => {
  it('maps device-tree compatibles to boards', () => {
    assert.equal(identifyBoard('NVIDIA Jetson AGX Orin Developer Kit', ['nvidia,p3737-0000+p3701-0000', 'nvidia,p3701-0000', 'nvidia,tegra234']).id, 'orin-agx');
    assert.equal(identifyBoard('Jetson-AGX', ['nvidia,p2972-0000', 'nvidia,tegra194']).id, 'agx-xavier');
    assert.equal(identifyBoard('x', ['nvidia,p3768-0000+p3767-0005-super', 'nvidia,p3767-0005', 'nvidia,tegra234']).id, 'orin-nano');
    assert.equal(identifyBoard('x', ['nvidia,p3509-0000+p3767-0000', 'nvidia,p3767-0000', 'nvidia,tegra234']).id, 'orin-nx');
    assert.equal(identifyBoard('NVIDIA Jetson Xavier NX Developer Kit', ['nvidia,p3509-0000+p3668-0000', 'nvidia,p3668-0000', 'nvidia,tegra194']).id, 'xavier-nx');
    const unknown = identifyBoard('Some carrier', ['vendor,board', 'nvidia,tegra234']);
    assert.equal(unknown.id, 'jetson-t234');
    assert.deepEqual(unknown.totalRails, ['VDD_IN']);
    assert.deepEqual(identifyBoard('', ['nvidia,p3701-0005']).totalRails, ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0']);
    assert.deepEqual(identifyBoard('', ['nvidia,p2972-0000']).totalRails, ['GPU', 'CPU', 'SOC', 'CV', 'VDDRQ', 'SYS5V']);
  });
});

for (const [boardId, spec, gpuName, clusters] of [
  ['orin-agx', ORIN_AGX, '17000000.ga10b', ['policy0', 'policy4', 'policy8']],
  ['agx-xavier', AGX_XAVIER, '17000000.gv11b', ['policy0', 'policy2', 'policy4', 'policy6']],
] as const) {
  describe(`jetson knobs on a fake ${boardId} tree`, () => {
    let ctx: Awaited<ReturnType<typeof openBoard>>;
    before(async () => {
      ctx = await openBoard(boardId);
    });

    it('discovers the board and its grid from sysfs', () => {
      const b = ctx.board;
      assert.equal(b.identity.id, boardId);
      assert.deepEqual(b.grid, spec.grid, 'the tree carries the documented grid; discovery reads it back exactly');
      assert.deepEqual(b.clusters.map((c) => c.policy), clusters);
      assert.equal(b.gpu.dir, `/sys/class/devfreq/${gpuName}`, 'the GPU is picked out of the devfreq devices');
      assert.equal(b.emc.mechanism, 'bpmp-clock-lock');
      assert.deepEqual(b.notes, []);
    });

    it('never lists a power-gating file among the writable paths', () => {
      const paths = [...writablePaths(ctx.board)];
      assert.ok(paths.length > 0);
      assert.deepEqual(paths.filter((p) => NEVER_WRITE.test(p)), []);
      assert.ok(!paths.includes('/sys/devices/system/cpu/cpu0/online'), 'cpu0 is never offlined');
    });

    it('sets every knob, reads each back, and leaves power-gating masks alone', async () => {
      const base: PowerMode = { cores: spec.grid.cores.at(-1)!, cpuMhz: spec.grid.cpuMhz.at(-1)!, gpuMhz: spec.grid.gpuMhz.at(-1)!, emcMhz: spec.grid.emcMhz.at(-1)! };
      await ctx.driver.apply(base);
      const changes: Array<[keyof PowerMode, number]> = [
        ['cores', spec.grid.cores[1]!],
        ['cpuMhz', spec.grid.cpuMhz[10]!],
        ['gpuMhz', spec.grid.gpuMhz[3]!],
        ['emcMhz', spec.grid.emcMhz[1]!],
      ];
      for (const [knob, value] of changes) {
        await clearFakeWriteLog(ctx.root);
        const target = { ...base, [knob]: value };
        const r = await ctx.driver.apply(target);
        assert.deepEqual(r.mode, target, `${knob}: read back`);
        assert.deepEqual(r.previousMode, base);
        assert.ok(r.switchMs > 0, 'the switch reports its own latency');
        const written = new Set(r.writes.map((w) => w.knob));
        const expectedKnob = { cores: 'cores', cpuMhz: 'cpu', gpuMhz: 'gpu', emcMhz: 'emc' }[knob];
        assert.deepEqual([...written], [expectedKnob], `${knob}: only its own files are written`);
        const log = await readFakeWriteLog(ctx.root);
        assert.ok(log.every((w) => w.ok));
        assert.deepEqual(log.map((w) => w.path), r.writes.map((w) => w.path), 'the kernel saw exactly the reported writes, in order');
        // Back to base for the next knob.
        assert.deepEqual((await ctx.driver.apply(base)).mode, base);
      }
      // The files themselves.
      const mode: PowerMode = { cores: spec.grid.cores[2]!, cpuMhz: spec.grid.cpuMhz[5]!, gpuMhz: spec.grid.gpuMhz[2]!, emcMhz: spec.grid.emcMhz[0]! };
      await ctx.driver.apply(mode);
      for (let cpu = 1; cpu < ctx.board.cpuCount; cpu++) {
        assert.equal(await readTreeFile(ctx.root, `/sys/devices/system/cpu/cpu${cpu}/online`), cpu < mode.cores ? '1' : '0', `cpu${cpu}`);
      }
      const khz = String(Math.round(mode.cpuMhz * 1000));
      assert.equal(await readTreeFile(ctx.root, '/sys/devices/system/cpu/cpufreq/policy0/scaling_min_freq'), khz);
      assert.equal(await readTreeFile(ctx.root, '/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq'), khz);
      assert.equal(await readTreeFile(ctx.root, '/sys/devices/system/cpu/cpufreq/policy0/scaling_governor'), 'performance');
      const hz = String(Math.round(mode.gpuMhz * 1e6));
      assert.equal(await readTreeFile(ctx.root, `/sys/class/devfreq/${gpuName}/min_freq`), hz);
      assert.equal(await readTreeFile(ctx.root, `/sys/class/devfreq/${gpuName}/max_freq`), hz);
      assert.equal(await readTreeFile(ctx.root, '/sys/kernel/debug/bpmp/debug/clk/emc/mrq_rate_locked'), '1');
      assert.equal(await readTreeFile(ctx.root, '/sys/kernel/debug/bpmp/debug/clk/emc/rate'), String(Math.round(mode.emcMhz * 1e6)));
      const read = await ctx.driver.read();
      assert.deepEqual(read.mode, mode);
      assert.equal(read.pinned, true);
      const gating = ['/sys/devices/platform/17000000.ga10b/tpc_pg_mask', '/sys/devices/gpu.0/tpc_pg_mask'];
      for (const g of gating) if (existsSync(join(ctx.root, g))) assert.equal(await readTreeFile(ctx.root, g), '0');
      assert.deepEqual((await readFakeWriteLog(ctx.root)).filter((w) => NEVER_WRITE.test(w.path)), []);
      await ctx.driver.restore();
    });

    it('writes in the right order: lowering min then max, raising max then min, cores around the clocks', async () => {
      const top: PowerMode = { cores: spec.grid.cores.at(-1)!, cpuMhz: spec.grid.cpuMhz.at(-1)!, gpuMhz: spec.grid.gpuMhz.at(-1)!, emcMhz: spec.grid.emcMhz.at(-1)! };
      const low: PowerMode = { cores: 2, cpuMhz: spec.grid.cpuMhz[4]!, gpuMhz: spec.grid.gpuMhz[1]!, emcMhz: spec.grid.emcMhz[1]! };
      // From the board's own state (governors in charge, EMC unlocked, every core online).
      await ctx.driver.restore();
      await clearFakeWriteLog(ctx.root);
      const down = (await ctx.driver.apply(low)).writes.map((w) => short(w.path));
      const at = (name: string, list = down): number => {
        const i = list.indexOf(name);
        assert.ok(i >= 0, `${name} written (writes: ${list.join(', ')})`);
        return i;
      };
      // Lowering: offline first, then each min before its max; every clock write after the last offline.
      const lastOffline = Math.max(...down.map((p, i) => (p.endsWith('/online') ? i : -1)));
      assert.equal(down.filter((p) => p.endsWith('/online')).length, ctx.board.cpuCount - 2);
      assert.ok(at('policy0/scaling_min_freq') > lastOffline);
      assert.ok(at('policy0/scaling_min_freq') < at('policy0/scaling_max_freq'));
      assert.ok(at(`${gpuName}/min_freq`) < at(`${gpuName}/max_freq`));
      assert.ok(at('emc/mrq_rate_locked') < at('emc/rate'), 'EMC: lock before rate');
      for (const p of clusters.slice(1)) assert.ok(!down.some((w) => w.startsWith(`${p}/`)), `${p} is offline: not written`);
      assert.deepEqual(down.filter((p) => p.endsWith('governor')), ['policy0/scaling_governor', `${gpuName}/governor`], 'governors last, once pinned');
      assert.ok(at('policy0/scaling_governor') > at('emc/rate'));
      // The fake kernel logged the same order.
      assert.deepEqual((await readFakeWriteLog(ctx.root)).map((w) => short(w.path)), down);

      const up = (await ctx.driver.apply(top)).writes.map((w) => short(w.path));
      // Raising: online first, then max before min on every cluster (including the ones just onlined).
      const lastOnline = Math.max(...up.map((p, i) => (p.endsWith('/online') ? i : -1)));
      for (const p of clusters) {
        const first = up.findIndex((w) => w.startsWith(`${p}/scaling_`));
        assert.ok(first > lastOnline, `${p} clocks after its cores are online`);
      }
      assert.ok(at('policy0/scaling_max_freq', up) < at('policy0/scaling_min_freq', up), 'policy0: max then min');
      // The clusters that were offline kept their old ceiling (the top), so only their floor moves.
      for (const p of clusters.slice(1)) assert.ok(!up.includes(`${p}/scaling_max_freq`) && up.includes(`${p}/scaling_min_freq`));
      assert.ok(at(`${gpuName}/max_freq`, up) < at(`${gpuName}/min_freq`, up));
      assert.ok(at('emc/rate', up) >= 0);
      await ctx.driver.restore();
    });

    it('goes down before it goes up when knobs move in opposite directions', async () => {
      await ctx.driver.apply({ cores: 2, cpuMhz: spec.grid.cpuMhz.at(-1)!, gpuMhz: spec.grid.gpuMhz[0]!, emcMhz: spec.grid.emcMhz.at(-1)! });
      const writes = (await ctx.driver.apply({ cores: spec.grid.cores.at(-1)!, cpuMhz: spec.grid.cpuMhz[3]!, gpuMhz: spec.grid.gpuMhz.at(-1)!, emcMhz: spec.grid.emcMhz[0]! })).writes;
      const firstUp = writes.findIndex((w) => (w.knob === 'cores' && w.value === '1') || (w.knob === 'gpu' && w.path.endsWith('max_freq')));
      const lastDown = Math.max(
        writes.findLastIndex((w) => w.knob === 'cpu' && w.path.includes('policy0/')),
        writes.findLastIndex((w) => w.knob === 'emc' && w.path.endsWith('/rate')),
      );
      assert.ok(lastDown < firstUp, `lower CPU and EMC (${lastDown}) before onlining cores or raising the GPU (${firstUp})`);
      await ctx.driver.restore();
    });

    it('reports a read-back mismatch as an error with what was read', async () => {
      const gpuMax = `/sys/class/devfreq/${gpuName}/max_freq`;
      const capped = String(Math.round(spec.grid.gpuMhz[4]! * 1e6));
      await setFakeRules(ctx.root, { readBackOverrides: { [gpuMax]: capped } });
      try {
        const target: PowerMode = { cores: 4, cpuMhz: spec.grid.cpuMhz[8]!, gpuMhz: spec.grid.gpuMhz[6]!, emcMhz: spec.grid.emcMhz.at(-1)! };
        const err = await ctx.driver.apply(target).then(
          () => assert.fail('expected a KnobMismatchError'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof KnobMismatchError, String(err));
        assert.deepEqual(err.mismatches.map((m) => [m.knob, m.path, m.actual]), [['gpu', gpuMax, capped]]);
        assert.match(err.message, /read back differently/);
        assert.equal(err.readBack.mode.gpuMhz, spec.grid.gpuMhz[4]);
      } finally {
        await setFakeRules(ctx.root, {});
        await ctx.driver.restore();
      }
    });

    it('a permission failure names the file, changes nothing and leaves no state file', async () => {
      const before = await snapshotKnobFiles(ctx.root, ctx.board);
      const beforeMode = (await ctx.driver.read()).mode;
      const gpuMax = `/sys/class/devfreq/${gpuName}/max_freq`;
      // Mid-sequence: cores and CPU writes go through first, then the GPU refuses.
      await setFakeRules(ctx.root, { readOnly: [`/sys/class/devfreq/${gpuName}/min_freq`, gpuMax] });
      try {
        const err = await ctx.driver.apply({ cores: 2, cpuMhz: spec.grid.cpuMhz[3]!, gpuMhz: spec.grid.gpuMhz[2]!, emcMhz: spec.grid.emcMhz[0]! }).then(
          () => assert.fail('expected a KnobWriteError'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof KnobWriteError, String(err));
        assert.equal(err.sysfsError.code, 'EACCES');
        assert.ok(err.sysfsError.isPermission);
        assert.match(err.message, new RegExp(`cannot write "\\d+" to /sys/class/devfreq/${gpuName.replace('.', '\\.')}/(min|max)_freq: permission denied \\(EACCES\\)`));
        assert.match(err.message, /fulcrum-jetson-helper/);
        assert.ok(err.rolledBack > 0, 'earlier writes were undone');
        assert.match(err.message, /undone; the knobs are as they were/);
        assert.deepEqual(await snapshotKnobFiles(ctx.root, ctx.board), before, 'every knob file as before');
        assert.deepEqual((await ctx.driver.read()).mode, beforeMode);
        assert.equal((await ctx.driver.savedState()).saved, undefined, 'no state file left behind');
      } finally {
        await setFakeRules(ctx.root, {});
      }
      // Not root at all: the very first write fails.
      await setFakeRules(ctx.root, { allReadOnly: true });
      try {
        const err = await ctx.driver.apply({ cores: 1, cpuMhz: spec.grid.cpuMhz[0]!, gpuMhz: spec.grid.gpuMhz[0]!, emcMhz: spec.grid.emcMhz[0]! }).catch((e: unknown) => e);
        assert.ok(err instanceof KnobWriteError);
        assert.equal(err.rolledBack, 0);
        assert.match(err.message, /Nothing was changed/);
        assert.deepEqual(await snapshotKnobFiles(ctx.root, ctx.board), before);
      } finally {
        await setFakeRules(ctx.root, {});
      }
    });

    it('a write the kernel rejects (EINVAL) mid-switch is undone', async () => {
      const before = await snapshotKnobFiles(ctx.root, ctx.board);
      await setFakeRules(ctx.root, { failWrites: { '/sys/kernel/debug/bpmp/debug/clk/emc/rate': 'EINVAL' } });
      try {
        const err = await ctx.driver.apply({ cores: 3, cpuMhz: spec.grid.cpuMhz[3]!, gpuMhz: spec.grid.gpuMhz[2]!, emcMhz: spec.grid.emcMhz[0]! }).catch((e: unknown) => e);
        assert.ok(err instanceof KnobWriteError);
        assert.equal(err.sysfsError.code, 'EINVAL');
        assert.ok(!err.sysfsError.isPermission);
        assert.deepEqual(await snapshotKnobFiles(ctx.root, ctx.board), before);
      } finally {
        await setFakeRules(ctx.root, {});
      }
    });

    it('refuses an off-grid mode before writing anything, naming the knob', async () => {
      await clearFakeWriteLog(ctx.root);
      const err = await ctx.driver.apply({ cores: 2, cpuMhz: spec.grid.cpuMhz[3]!, gpuMhz: 1000, emcMhz: spec.grid.emcMhz[0]! }).catch((e: unknown) => e);
      assert.ok(err instanceof ValidationError);
      assert.equal(err.field, 'mode.gpuMhz');
      assert.match(err.reason, /not on the .* grid/);
      const cores = await ctx.driver.apply({ cores: 99, cpuMhz: spec.grid.cpuMhz[3]!, gpuMhz: spec.grid.gpuMhz[0]!, emcMhz: spec.grid.emcMhz[0]! }).catch((e: unknown) => e);
      assert.ok(cores instanceof ValidationError);
      assert.equal(cores.field, 'mode.cores');
      assert.deepEqual(await readFakeWriteLog(ctx.root), []);
    });

    it('restores the original state, governors included', async () => {
      const before = await snapshotKnobFiles(ctx.root, ctx.board);
      await ctx.driver.apply({ cores: 3, cpuMhz: spec.grid.cpuMhz[12]!, gpuMhz: spec.grid.gpuMhz[5]!, emcMhz: spec.grid.emcMhz[0]! });
      await ctx.driver.apply({ cores: 5, cpuMhz: spec.grid.cpuMhz[2]!, gpuMhz: spec.grid.gpuMhz[7]!, emcMhz: spec.grid.emcMhz[1]! });
      const saved = await ctx.driver.savedState();
      assert.ok(saved.saved, 'saved before the first switch');
      assert.equal(saved.saved.pinned, false, 'the original state was the governors\' (not pinned)');
      const r = await ctx.driver.restore();
      assert.equal(r.restored, true);
      assert.deepEqual(await snapshotKnobFiles(ctx.root, ctx.board), before);
      assert.equal((await ctx.driver.savedState()).saved, undefined);
      assert.equal((await ctx.driver.restore()).restored, false, 'nothing left to restore');
    });
  });
}

describe('knob options and corner cases', () => {
  it("'keep' governors pins clocks without touching governors", async () => {
    const { driver } = await openBoard('orin-agx', { cpuGovernor: 'keep', gpuGovernor: 'keep' });
    const r = await driver.apply({ cores: 12, cpuMhz: 1497.6, gpuMhz: 828.75, emcMhz: 3199 });
    assert.ok(!r.writes.some((w) => w.knob === 'governor'));
    assert.equal((await driver.read()).pinned, true);
    await driver.restore();
  });

  it('ignores a state file from another boot', async () => {
    const { root, driver } = await openBoard('orin-agx');
    await driver.apply({ cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 });
    await writeFile(join(root, '/proc/sys/kernel/random/boot_id'), 'another-boot\n');
    const s = await driver.savedState();
    assert.equal(s.saved, undefined);
    assert.match(s.ignored ?? '', /another boot/);
    const r = await driver.restore();
    assert.equal(r.restored, false);
    assert.equal((await driver.savedState()).ignored, undefined, 'the stale file was removed');
  });

  it('the fake kernel snaps off-table values, refuses min > max and writes to an offline policy', async () => {
    const { root } = await openBoard('orin-agx');
    const io = openSysfs(root);
    const p = '/sys/devices/system/cpu/cpufreq/policy4';
    await io.write(`${p}/scaling_max_freq`, '1500000');
    assert.equal(await io.read(`${p}/scaling_max_freq`), '1497600', 'max snaps down to the table: read-back differs');
    const tooHigh = await io.write(`${p}/scaling_min_freq`, '2201600').catch((e: unknown) => e);
    assert.ok(tooHigh instanceof SysfsError && tooHigh.code === 'EINVAL');
    for (const cpu of [4, 5, 6, 7]) await io.write(`/sys/devices/system/cpu/cpu${cpu}/online`, '0');
    const busy = await io.write(`${p}/scaling_max_freq`, '2201600').catch((e: unknown) => e);
    assert.ok(busy instanceof SysfsError && busy.code === 'EBUSY');
    const cpu0 = await io.write('/sys/devices/system/cpu/cpu0/online', '0').catch((e: unknown) => e);
    assert.ok(cpu0 instanceof SysfsError && cpu0.code === 'EBUSY');
    const missing = await io.write('/sys/devices/system/cpu/cpufreq/policy4/nonexistent', '1').catch((e: unknown) => e);
    assert.ok(missing instanceof SysfsError && missing.code === 'ENOENT');
    // Unlocked, the EMC rate does not move.
    await io.write('/sys/kernel/debug/bpmp/debug/clk/emc/rate', '204000000');
    assert.equal(await io.read('/sys/kernel/debug/bpmp/debug/clk/emc/rate'), '3199000000');
  });

  it('discovers a cluster that is offline at start and brings it back for a mode that needs it', async () => {
    const { root } = await openBoard('orin-agx');
    for (const cpu of [8, 9, 10, 11]) await writeFile(join(root, `/sys/devices/system/cpu/cpu${cpu}/online`), '0\n');
    const driver = await LocalKnobDriver.open({ io: openSysfs(root) });
    const board = await driver.describe();
    assert.deepEqual(board.grid.cores, ORIN_AGX.grid.cores);
    assert.equal((await driver.read()).mode.cores, 8);
    const r = await driver.apply({ cores: 12, cpuMhz: 729.6, gpuMhz: 624.75, emcMhz: 2133 });
    assert.deepEqual(r.mode, { cores: 12, cpuMhz: 729.6, gpuMhz: 624.75, emcMhz: 2133 });
    await driver.restore();
    assert.equal((await driver.read()).mode.cores, 8, 'restored to the 8 cores found at start');
  });

  it('discovers an Orin Nano (JetPack 6 GPU path, two clusters)', async () => {
    const { board } = await openBoard('orin-nano');
    assert.equal(board.identity.id, 'orin-nano');
    assert.equal(board.gpu.dir, '/sys/class/devfreq/17000000.gpu');
    assert.deepEqual(board.clusters.map((c) => c.cpus), [[0, 1, 2, 3], [4, 5]]);
  });

  it('discovery needs only sysfs: a board without the emulation marker still works', async () => {
    const tree = await fakeTree('agx-xavier');
    cleanups.push(tree.cleanup);
    const { rm } = await import('node:fs/promises');
    await rm(join(tree.root, '.fulcrum-fake-sysfs.json'));
    const io = openSysfs(tree.root);
    assert.ok(!(io instanceof FakeKernelIo));
    const board = await discoverJetson(io);
    assert.deepEqual(board.grid, AGX_XAVIER.grid);
  });
});
