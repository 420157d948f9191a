import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadProfilerConfig, profilerConfigSchema } from './config.js';

describe('profiler config', () => {
  it('has defaults for everything: SQLite store, peers on their default ports, the SPEC §4 protocol', () => {
    const c = profilerConfigSchema.parse({});
    assert.equal(c.store.backend, 'sqlite');
    assert.equal(c.store.path, '.fulcrum/profiles.db');
    assert.equal(c.controller.address, '127.0.0.1:50051');
    assert.equal(c.executor.address, '127.0.0.1:50052');
    assert.deepEqual(c.protocol, { warmupMinibatches: 5, measuredMinibatches: 20, remeasureWindowS: 60, settleS: 10, telemetryIntervalMs: 50, minPowerSamples: 3, measureAttempts: 4 });
    assert.equal(c.grpc.host, '127.0.0.1');
  });

  it('reads env with the shared naming rule and names the key on a bad value', () => {
    const { config } = loadProfilerConfig({
      env: {
        FULCRUM_STORE__BACKEND: 'kv',
        FULCRUM_NATS__URL: 'nats://127.0.0.1:4222',
        FULCRUM_CONTROLLER__ADDRESS: 'jetson:50051',
        FULCRUM_CONTROLLER__TOKEN: 'a-long-token',
        FULCRUM_PROTOCOL__SETTLE_S: '2.5',
        FULCRUM_SOFTWARE_STACK: 'jetpack-6.2',
      },
    });
    assert.equal(config.store.backend, 'kv');
    assert.equal(config.nats.url, 'nats://127.0.0.1:4222');
    assert.equal(config.controller.address, 'jetson:50051');
    assert.equal(config.controller.token, 'a-long-token');
    assert.equal(config.protocol.settleS, 2.5);
    assert.equal(config.protocol.measuredMinibatches, 20);
    assert.equal(config.softwareStack, 'jetpack-6.2');
    assert.throws(() => loadProfilerConfig({ env: { FULCRUM_STORE__BACKEND: 'mongo' } }), /store\.backend from env FULCRUM_STORE__BACKEND/);
    assert.throws(() => loadProfilerConfig({ env: { FULCRUM_PROTOCOL__MEASURED_MINIBATCHES: '0' } }), /protocol\.measuredMinibatches/);
  });
});
