/** The behaviour every ProfileStore backend must show; run by sqlite.test.ts and kv.test.ts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '@fulcrum/core';
import type { ProfileResult, ProfileStore } from './profile-store.js';

let unique = 0;
export function freshDevice(): string {
  return `board-${process.pid}-${Date.now().toString(36)}-${unique++}`;
}

export function result(device: string, overrides: Partial<ProfileResult> = {}): ProfileResult {
  return {
    device,
    softwareStack: 'jp6.0/torch-2.3',
    workload: 'resnet18',
    kind: 'infer',
    batchSize: 4,
    mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 },
    timeMs: 14.25,
    powerW: 31.5,
    measuredAt: '2025-01-31T12:00:00.000Z',
    samples: 20,
    ...overrides,
  };
}

export function profileStoreSuite(name: string, open: () => Promise<ProfileStore>): void {
  describe(`ProfileStore behaviour: ${name}`, () => {
    test('put then get by the full key; any differing key part misses', async (t) => {
      const store = await open();
      t.after(() => store.close());
      const device = freshDevice();
      const r = result(device);
      assert.equal(await store.get(r), undefined);
      await store.put(r);
      assert.deepEqual(await store.get(r), r);
      const { timeMs: _t, powerW: _p, measuredAt: _m, samples: _s, ...key } = r;
      assert.deepEqual(await store.get(key), r, 'the key alone finds it');
      for (const other of [
        { device: freshDevice() },
        { softwareStack: 'jp5' },
        { workload: 'resnet50' },
        { kind: 'train' as const },
        { batchSize: 8 },
        { mode: { ...r.mode, gpuMhz: 1236.75 } },
        { mode: { ...r.mode, cores: 8 } },
      ]) {
        assert.equal(await store.get({ ...key, ...other }), undefined, JSON.stringify(other));
      }
    });

    test('putIfAbsent keeps the first result (never profile twice); put replaces', async (t) => {
      const store = await open();
      t.after(() => store.close());
      const device = freshDevice();
      assert.equal(await store.putIfAbsent(result(device, { timeMs: 10 })), true);
      assert.equal(await store.putIfAbsent(result(device, { timeMs: 99 })), false);
      assert.equal((await store.get(result(device)))?.timeMs, 10);
      await store.put(result(device, { timeMs: 12, measuredAt: '2025-02-01T00:00:00.000Z' }));
      assert.equal((await store.get(result(device)))?.timeMs, 12);
      assert.equal((await store.query({ device })).length, 1);
    });

    test('query filters by any key part, ordered by key', async (t) => {
      const store = await open();
      t.after(() => store.close());
      const device = freshDevice();
      const modes = [
        { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 },
        { cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 },
        { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 },
      ];
      const rows: ProfileResult[] = [];
      for (const mode of modes) {
        for (const batchSize of [8, 1]) rows.push(result(device, { mode, batchSize }));
        rows.push(result(device, { mode, kind: 'train', workload: 'mobilenet', batchSize: 32 }));
      }
      rows.push(result(device, { softwareStack: 'jp5.1' }));
      for (const r of rows) await store.put(r);
      await store.put(result(freshDevice()));

      const all = await store.query({ device });
      assert.equal(all.length, rows.length);
      assert.deepEqual(
        all.slice(0, 3).map((r) => [r.softwareStack, r.workload, r.kind, r.batchSize, r.mode.cores]),
        [
          ['jp5.1', 'resnet18', 'infer', 4, 12],
          ['jp6.0/torch-2.3', 'mobilenet', 'train', 32, 4],
          ['jp6.0/torch-2.3', 'mobilenet', 'train', 32, 8],
        ],
      );
      const infer = await store.query({ device, softwareStack: 'jp6.0/torch-2.3', workload: 'resnet18', kind: 'infer' });
      assert.deepEqual(infer.map((r) => [r.batchSize, r.mode.cores]), [[1, 4], [1, 8], [1, 12], [8, 4], [8, 8], [8, 12]]);
      assert.equal((await store.query({ device, batchSize: 8 })).length, 3);
      assert.deepEqual((await store.query({ device, mode: modes[1] })).map((r) => r.batchSize).sort((a, b) => a - b), [1, 8, 32]);
      assert.deepEqual(await store.query({ device: freshDevice() }), []);
      assert.ok((await store.query()).length >= rows.length + 1);
    });

    test('delete removes one result', async (t) => {
      const store = await open();
      t.after(() => store.close());
      const device = freshDevice();
      await store.put(result(device));
      await store.put(result(device, { batchSize: 2 }));
      assert.equal(await store.delete(result(device)), true);
      assert.equal(await store.delete(result(device)), false);
      assert.equal(await store.get(result(device)), undefined);
      assert.deepEqual((await store.query({ device })).map((r) => r.batchSize), [2]);
      assert.equal(await store.putIfAbsent(result(device)), true, 'a deleted key can be stored again');
    });

    test('a result keeps the standard errors of its measurement (issue 16), and one without them reads back without them', async (t) => {
      const store = await open();
      t.after(() => store.close());
      const device = freshDevice();
      const sure = result(device, { batchSize: 2, timeSeMs: 0.125, powerSeW: 0.03 });
      const plain = result(device, { batchSize: 4 });
      await store.put(sure);
      await store.put(plain);
      assert.deepEqual(await store.get(sure), sure);
      const back = await store.get(plain);
      assert.deepEqual(back, plain);
      assert.ok(!('timeSeMs' in back!) && !('powerSeW' in back!), 'no standard error invented');
      assert.deepEqual((await store.query({ device })).map((r) => r.timeSeMs), [0.125, undefined]);
    });

    test('a result combined from re-measured windows keeps its count of windows; put replaces the one window with it', async (t) => {
      const store = await open();
      t.after(() => store.close());
      const device = freshDevice();
      const first = result(device, { timeSeMs: 0.2, powerSeW: 0.04 });
      assert.equal(await store.putIfAbsent(first), true);
      const combined = { ...first, samples: first.samples * 2, timeSeMs: 0.14, powerSeW: 0.03, windows: 2 };
      await store.put(combined);
      assert.deepEqual(await store.get(first), combined);
      assert.deepEqual((await store.query({ device })).map((r) => r.windows), [2]);
      assert.ok(!('windows' in (await store.get(result(freshDevice())) ?? {})), 'nothing invented for a missing key');
      // With the windows' Σwᵢ² (a first window of n and a re-measure of 4n: 0.2² + 0.8²).
      const weighted = { ...combined, samples: first.samples * 5, windows: 2, windowWeightsSquared: 0.68 };
      await store.put(weighted);
      assert.deepEqual(await store.get(first), weighted);
    });

    test('bad results, keys and filters are rejected naming the field', async (t) => {
      const store = await open();
      t.after(() => store.close());
      const device = freshDevice();
      const field = async (p: Promise<unknown>, name: string): Promise<void> => {
        await assert.rejects(p, (err: unknown) => {
          assert.ok(err instanceof ValidationError, String(err));
          assert.equal(err.field, name);
          return true;
        });
      };
      await field(store.put(result(device, { timeMs: -1 })), 'result.timeMs');
      await field(store.put(result(device, { timeSeMs: -0.5 })), 'result.timeSeMs');
      await field(store.put(result(device, { powerSeW: -1 })), 'result.powerSeW');
      // Σwᵢ² of 2 windows lies in [1/2, 1]; one window has none to weigh.
      await field(store.put({ ...result(device), windows: 2, windowWeightsSquared: 0.3 }), 'result.windowWeightsSquared');
      await field(store.put({ ...result(device), windows: 2, windowWeightsSquared: 1.5 }), 'result.windowWeightsSquared');
      await field(store.put({ ...result(device), windowWeightsSquared: 0.8 }), 'result.windowWeightsSquared');
      await field(store.put(result(device, { batchSize: 0 })), 'result.batchSize');
      await field(store.put(result(device, { mode: { cores: 1.5, cpuMhz: 1, gpuMhz: 1, emcMhz: 1 } })), 'result.mode.cores');
      await field(store.put(result('bad device')), 'result.device');
      await field(store.put(result(device, { measuredAt: 'today' })), 'result.measuredAt');
      await field(store.putIfAbsent({ ...result(device), kind: 'serve' } as unknown as ProfileResult), 'result.kind');
      await field(store.get({ ...result(device), workload: '' }), 'key.workload');
      await field(store.query({ batchSize: -2 }), 'filter.batchSize');
      assert.deepEqual(await store.query({ device }), [], 'nothing was stored');
    });
  });
}
