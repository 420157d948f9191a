// DeviceControllerNode without gRPC: what an embedder gets (virtual board, in-process bus).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError, type PowerMode } from '@fulcrum/core';
import { ActivityState, activitySubject, createInProcessBus, powerSubject } from '@fulcrum/bus';
import { createLogger } from '@fulcrum/runtime';
import { Registry } from 'prom-client';
import { DeviceControlError } from './errors.js';
import { createDeviceControllerMetrics } from './metrics.js';
import type { ModelControlBackend } from './model-backend.js';
import { DeviceControllerNode } from './node.js';

const quiet = createLogger({ name: 'test', level: 'silent' });
const MAXN: PowerMode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const MODE_15W: PowerMode = { cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 };

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); await sleep(5)) if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
}

describe('DeviceControllerNode', () => {
  it('switches modes with domain errors, streams telemetry, follows the bus and restores on close', async () => {
    const bus = createInProcessBus();
    const registry = new Registry();
    let node: DeviceControllerNode | undefined;
    const metrics = createDeviceControllerMetrics(registry, () => node);
    const powers: number[] = [];
    bus.subscribe(powerSubject('test-board'), (m) => {
      powers.push(m.event.powerW ?? 0);
    });
    node = await DeviceControllerNode.open({ board: 'test-board', hardCapW: 30, initialMode: '15W', noise: 0, telemetry: { publishIntervalMs: 10 } }, { logger: quiet, bus, metrics });
    assert.deepEqual(node.initialMode, MODE_15W);
    const info = await node.info();
    assert.equal(info.backend, 'virtual');
    assert.equal(info.softwareStack, 'fulcrum-virtual-orin-agx-seed1');

    const refused = await node.setMode(MAXN).then(() => undefined, (err: unknown) => err);
    assert.ok(refused instanceof DeviceControlError);
    assert.equal(refused.kind, 'refused');
    assert.equal(refused.field, 'mode');
    assert.match(refused.message, /over the hard power cap of 30 W/);
    await assert.rejects(node.setMode({ ...MODE_15W, gpuMhz: 1000 }), (err: unknown) => err instanceof ValidationError && err.field === 'mode.gpuMhz');
    await assert.rejects(node.setMode(MODE_15W, { settleS: 601 }), (err: unknown) => err instanceof ValidationError && err.field === 'settleS');
    const low = { ...MODE_15W, gpuMhz: 318.75 };
    assert.deepEqual((await node.setMode(low)).mode, low);
    assert.deepEqual(await node.getMode(), low);
    const switches = await registry.getSingleMetricAsString('fulcrum_mode_switches_total');
    assert.match(switches, /outcome="ok"\} 1/);
    assert.match(switches, /outcome="refused"\} 1/);
    assert.match(switches, /outcome="invalid"\} 2/);

    await bus.publish(activitySubject('test-board'), { state: ActivityState.TRAIN, workload: 'resnet18', batchSize: 32, measuredAt: new Date().toISOString() });
    await until('the activity', () => (node!.backend as ModelControlBackend).currentActivity().state === 'train');
    const seqs: number[] = [];
    for await (const s of node.telemetry({ intervalMs: 5, maxSamples: 3 })) {
      seqs.push(s.seq);
      assert.deepEqual(s.mode, low);
    }
    assert.deepEqual(seqs, [0, 1, 2]);
    await until('power on the bus', () => powers.length > 0);

    const stop = new AbortController();
    const endless = (async () => {
      let n = 0;
      for await (const _ of node!.telemetry({ intervalMs: 5, signal: stop.signal })) if (++n === 2) stop.abort();
      return n;
    })();
    assert.equal(await endless, 2, 'the signal ends a stream');
    assert.equal(node.openStreams, 0);

    await node.close();
    await node.close();
    assert.deepEqual(await node.backend.getMode(), MODE_15W, 'the mode found at start is back');
    await assert.rejects(node.setMode(low), (err: unknown) => err instanceof DeviceControlError && err.kind === 'unavailable');
    await bus.close();
  });
});
