import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { device } from '@fulcrum/proto';
import { startService, grpcConfigSchema, metricsConfigSchema } from './service.js';
import { unary } from './grpc-server.js';
import { clientSecurity, unaryCall } from './grpc-client.js';
import { loadConfig } from './config.js';
import { createLogger, serviceLogger } from './logging.js';
import { z } from 'zod';

const binding = () => ({
  name: 'fulcrum.device.v1.DeviceController',
  definition: device.DeviceControllerService,
  implementation: {
    getDeviceInfo: unary(async () => device.GetDeviceInfoResponse.fromPartial({})),
    setPowerMode: unary(async () => device.SetPowerModeResponse.fromPartial({})),
    getPowerMode: unary(async () => device.GetPowerModeResponse.fromPartial({ mode: { cores: 4, cpuMhz: 1, gpuMhz: 2, emcMhz: 3 } })),
    streamTelemetry: () => undefined,
  },
});

describe('startService', () => {
  it('serves gRPC and /metrics, counts into its registry, and closes once', async () => {
    let closed = 0;
    const logger = pino({ level: 'silent' });
    const svc = await startService({ name: 'device-controller', grpc: { host: '127.0.0.1', port: 0 }, bindings: [binding()], logger, onClose: () => void closed++ });
    const { credentials } = clientSecurity();
    const c = new device.DeviceControllerClient(svc.address, credentials);
    const res = await unaryCall<device.GetPowerModeResponse>((o, cb) => c.getPowerMode({}, new grpc.Metadata(), o, cb));
    assert.equal(res.mode?.cores, 4);
    c.close();
    const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
    assert.match(metrics, /service="device-controller"/);
    await Promise.all([svc.close(100), svc.close(100)]);
    assert.equal(closed, 1);
    await assert.rejects(fetch(`${svc.metricsUrl}/healthz`));
  });

  it('logs with the service logger it is given, naming the service once per line', async () => {
    const lines: string[] = [];
    const root = createLogger({ name: 'fulcrum', destination: { write: (line: string) => void lines.push(line) }, env: {}, pretty: false });
    const svc = await startService({ name: 'executor', grpc: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: -1 }, bindings: [binding()], logger: serviceLogger(root, 'executor') });
    await svc.close(100);
    const msgs = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    assert.ok(msgs.includes('shutting down') && msgs.includes('stopped'), msgs.join(', '));
    // JSON.parse keeps the last of duplicated keys, so count them in the text.
    for (const line of lines) assert.equal(line.match(/"service":/gu)?.length, 1, line);
  });

  it('takes its grpc and metrics sections from env with the shared naming rule', () => {
    const schema = z.object({ grpc: grpcConfigSchema.default({ host: '127.0.0.1' }), metrics: metricsConfigSchema.default({ host: '127.0.0.1' }) });
    const { config } = loadConfig(schema, { env: { FULCRUM_GRPC__PORT: '6000', FULCRUM_GRPC__TOKEN: 'abcdefgh12', FULCRUM_METRICS__PORT: '-1' } });
    assert.equal(config.grpc.port, 6000);
    assert.equal(config.grpc.token, 'abcdefgh12');
    assert.equal(config.metrics.port, -1);
    assert.throws(() => loadConfig(schema, { env: { FULCRUM_GRPC__TOKEN: 'short' } }), /grpc\.token from env FULCRUM_GRPC__TOKEN/);
  });
});
