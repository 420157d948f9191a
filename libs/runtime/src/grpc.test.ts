import { ValidationError } from '@fulcrum/core';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { ORIN_AGX, assertOnGrid } from '@fulcrum/core';
import { device, loadDescriptorSet } from '@fulcrum/proto';
import { GrpcBindError, drainedOrGone, startGrpcServer, unary, serverStream, type RunningGrpcServer } from './grpc-server.js';
import { clientSecurity, unaryCall, withRetry, isUnavailable } from './grpc-client.js';
import { errorField } from './grpc-errors.js';
import { createMetricsRegistry, startHttpEndpoints } from './http-endpoints.js';

const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };

/** A tiny in-test DeviceController: the server helpers are what is under test. */
function deviceControllerBinding() {
  let current = MAXN;
  const implementation: device.DeviceControllerServer = {
    getDeviceInfo: unary(async () => device.GetDeviceInfoResponse.fromPartial({ info: { device: 'orin-agx' } })),
    setPowerMode: unary(async (req: device.SetPowerModeRequest) => {
      const mode = req.mode ?? MAXN;
      assertOnGrid(mode, ORIN_AGX.grid, 'orin-agx', 'mode');
      const previous = current;
      current = mode;
      return device.SetPowerModeResponse.fromPartial({ mode, previousMode: previous });
    }),
    getPowerMode: unary(async () => device.GetPowerModeResponse.fromPartial({ mode: current })),
    streamTelemetry: serverStream(async function* (req: device.StreamTelemetryRequest) {
      for (let i = 0; i < (req.maxSamples || 3); i++) yield device.StreamTelemetryResponse.fromPartial({ powerW: 10 + i, seq: i });
    }),
  };
  return { name: 'fulcrum.device.v1.DeviceController', definition: device.DeviceControllerService, implementation };
}

function client(address: string, security: Parameters<typeof clientSecurity>[0] = {}) {
  const { credentials, options } = clientSecurity(security);
  return new device.DeviceControllerClient(address, credentials, options);
}

const TOKEN = 's3cret-token';

describe('gRPC server helpers', () => {
  let server: RunningGrpcServer;
  before(async () => {
    server = await startGrpcServer({ services: [deviceControllerBinding()], token: TOKEN, descriptorSet: loadDescriptorSet() });
  });
  after(() => server.shutdown(1000));

  it('answers a call that carries the bearer token', async () => {
    const c = client(server.address, { token: TOKEN });
    const res = await unaryCall<device.GetPowerModeResponse>((o, cb) => c.getPowerMode({}, new grpc.Metadata(), o, cb));
    assert.deepEqual(res.mode, MAXN);
    c.close();
  });

  it('refuses a call without the token, or with a wrong one, as UNAUTHENTICATED', async () => {
    for (const token of [undefined, 'wrong']) {
      const c = client(server.address, { token });
      await assert.rejects(
        unaryCall((o, cb) => c.getPowerMode({}, new grpc.Metadata(), o, cb)),
        (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED && /bearer token/.test(err.details),
      );
      c.close();
    }
  });

  it('turns a ValidationError into INVALID_ARGUMENT naming the field', async () => {
    const c = client(server.address, { token: TOKEN });
    await assert.rejects(
      unaryCall((o, cb) => c.setPowerMode(device.SetPowerModeRequest.fromPartial({ mode: { ...MAXN, gpuMhz: 1000 } }), new grpc.Metadata(), o, cb)),
      (err: grpc.ServiceError) =>
        err.code === grpc.status.INVALID_ARGUMENT && errorField(err) === 'mode.gpuMhz' && /1000 is not on the orin-agx grid/.test(err.details),
    );
    c.close();
  });

  it('streams server-side and refuses an unauthenticated stream', async () => {
    const c = client(server.address, { token: TOKEN });
    const seen: number[] = [];
    for await (const m of c.streamTelemetry(device.StreamTelemetryRequest.fromPartial({ maxSamples: 4 })) as AsyncIterable<device.StreamTelemetryResponse>) seen.push(m.powerW);
    assert.deepEqual(seen, [10, 11, 12, 13]);
    const anonymous = client(server.address);
    await assert.rejects(async () => {
      for await (const _ of anonymous.streamTelemetry(device.StreamTelemetryRequest.fromPartial({ maxSamples: 1 })) as AsyncIterable<unknown>) void _;
    }, (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
    c.close();
    anonymous.close();
  });

  it('serves grpc.health.v1 without a token, per service', async () => {
    const Health = grpc.makeClientConstructor(healthService, 'Health');
    const h = new Health(server.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    const check = (svc: string) =>
      new Promise<{ status: string }>((resolve, reject) => h['check']!({ service: svc }, { deadline: new Date(Date.now() + 10_000) }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res))));
    assert.equal((await check('fulcrum.device.v1.DeviceController')).status, 'SERVING');
    assert.equal((await check('')).status, 'SERVING');
    await assert.rejects(check('fulcrum.nope.v1.Nope'), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND);
    server.setServing('fulcrum.device.v1.DeviceController', 'NOT_SERVING');
    assert.equal((await check('fulcrum.device.v1.DeviceController')).status, 'NOT_SERVING');
    server.setServing('fulcrum.device.v1.DeviceController', 'SERVING');
    h.close();
  });

  it('lists the Fulcrum services through server reflection', async () => {
    const reflectionProto = join(createRequire(import.meta.url).resolve('@grpc/reflection').replace(/build\/src\/index\.js$/, ''), 'build/proto/grpc/reflection/v1/reflection.proto');
    const def = grpc.loadPackageDefinition(loadSync(reflectionProto, { keepCase: true })) as any;
    const r = new def.grpc.reflection.v1.ServerReflection(server.address, grpc.credentials.createInsecure());
    const call = r.ServerReflectionInfo({ deadline: new Date(Date.now() + 10_000) });
    const response = await new Promise<any>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
      call.write({ list_services: '' });
    });
    call.end();
    const names = response.list_services_response.service.map((s: { name: string }) => s.name);
    assert.ok(names.includes('fulcrum.device.v1.DeviceController'), names.join(','));
    r.close();
  });
});

describe('server streams and cancellation', () => {
  // A call whose client stopped reading never drains; once cancelled, the handler must not wait on
  // 'drain' for ever (it held the generator and its buffers: 5,000 cancelled telemetry streams kept
  // 400 MB). A stand-in call object: the event order is what is under test.
  it("a backed-up write waits for 'drain', or for the call to be cancelled, closed or fail", async () => {
    for (const event of ['drain', 'cancelled', 'close', 'error']) {
      const call = Object.assign(new EventEmitter(), { cancelled: false, destroyed: false });
      let resolved = false;
      const waiting = drainedOrGone(call as never).then(() => (resolved = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(resolved, false, 'still waiting before any event');
      call.emit(event);
      await waiting;
      assert.equal(call.listenerCount('drain') + call.listenerCount('cancelled') + call.listenerCount('close'), 0, `${event}: no listener left behind`);
    }
    // Already cancelled: no wait at all.
    await drainedOrGone(Object.assign(new EventEmitter(), { cancelled: true, destroyed: false }) as never);
  });
});

describe('gRPC listening rules and TLS', () => {
  it('a port in use is a GrpcBindError saying so, naming the address', async () => {
    const first = await startGrpcServer({ services: [deviceControllerBinding()] });
    try {
      await assert.rejects(startGrpcServer({ services: [deviceControllerBinding()], port: first.port }), (err: unknown) => {
        assert.ok(err instanceof GrpcBindError, String(err));
        assert.equal(err.message, `cannot listen on 127.0.0.1:${first.port}: the port is in use (another process listens there; pick another port, or 0 for any free one)`);
        return true;
      });
    } finally {
      await first.shutdown(100);
    }
  });

  it('refuses a non-loopback address without TLS and a token', async () => {
    // A ValidationError naming grpc.host: a setting that cannot work (exit 2, not a restart loop).
    await assert.rejects(startGrpcServer({ services: [deviceControllerBinding()], host: '0.0.0.0' }), (err: unknown) => {
      assert.ok(err instanceof ValidationError && err.field === 'grpc.host', String(err));
      assert.match(err.message, /refusing to listen on 0\.0\.0\.0: serving beyond loopback needs both TLS/);
      return true;
    });
    await assert.rejects(startGrpcServer({ services: [deviceControllerBinding()], host: '0.0.0.0', token: 'x' }), /needs both TLS/);
    const opted = await startGrpcServer({ services: [deviceControllerBinding()], host: '0.0.0.0', allowPlaintextNetwork: true });
    assert.ok(opted.port > 0);
    await opted.shutdown(100);
  });

  it('serves over TLS with a token, and a client that trusts the CA gets through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tls-'));
    try {
      const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
      const server = await startGrpcServer({ services: [deviceControllerBinding()], host: '0.0.0.0', token: TOKEN, tls: { certFile: cert, keyFile: key } });
      try {
        const c = client(`localhost:${server.port}`, { token: TOKEN, tls: { caFile: cert } });
        const res = await unaryCall<device.GetPowerModeResponse>((o, cb) => c.getPowerMode({}, new grpc.Metadata(), o, cb));
        assert.equal(res.mode?.cores, 12);
        c.close();
        const plaintext = client(`127.0.0.1:${server.port}`, { token: TOKEN });
        await assert.rejects(unaryCall((o, cb) => plaintext.getPowerMode({}, new grpc.Metadata(), o, cb), 2000), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
        plaintext.close();
      } finally {
        await server.shutdown(500);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('UNAVAILABLE and retry', () => {
  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = createNetServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });

  it('a call to a missing peer fails fast with UNAVAILABLE, and a retry succeeds once the peer is up', async () => {
    const port = await freePort();
    const c = client(`127.0.0.1:${port}`);
    await assert.rejects(unaryCall((o, cb) => c.getPowerMode({}, new grpc.Metadata(), o, cb), 2000), isUnavailable);
    let server: RunningGrpcServer | undefined;
    const attemptsSeen: number[] = [];
    const res = await withRetry(
      async (attempt) => {
        attemptsSeen.push(attempt);
        if (attempt === 2) server = await startGrpcServer({ services: [deviceControllerBinding()], port });
        return unaryCall<device.GetPowerModeResponse>((o, cb) => c.getPowerMode({}, new grpc.Metadata(), o, cb), 2000);
      },
      // The same channel redials on grpc's own backoff (1 s, then ×1.6): leave it time to (GrpcConnection starts over on a fresh one instead).
      { attempts: 10, initialDelayMs: 100, maxDelayMs: 2000 },
    );
    assert.equal(res.mode?.cores, 12);
    assert.ok(attemptsSeen.length >= 2 && attemptsSeen[0] === 1);
    c.close();
    await server?.shutdown(500);
  });

  it('does not retry errors that are not UNAVAILABLE', async () => {
    let calls = 0;
    await assert.rejects(withRetry(async () => {
      calls++;
      throw Object.assign(new Error('bad'), { code: grpc.status.INVALID_ARGUMENT, details: 'bad' });
    }, { initialDelayMs: 1 }));
    assert.equal(calls, 1);
  });
});

describe('HTTP /metrics and /healthz', () => {
  it('serves Prometheus text and a health answer that follows the service', async () => {
    const registry = createMetricsRegistry('test');
    let healthy = true;
    const http = await startHttpEndpoints({ registry, healthy: () => healthy });
    try {
      const metrics = await fetch(`${http.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /fulcrum_process_cpu_user_seconds_total\{service="test"\}/);
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
      healthy = false;
      assert.equal((await fetch(`${http.url}/healthz`)).status, 503);
      assert.equal((await fetch(`${http.url}/nope`)).status, 404);
    } finally {
      await http.close();
    }
  });
});

describe('a bound on open server streams (grpc.maxStreams)', () => {
  it('refuses a stream past the limit with RESOURCE_EXHAUSTED, and admits one again once a stream ends or is cancelled', async () => {
    const binding = deviceControllerBinding();
    // Endless telemetry (maxSamples 0) or a few samples, a sample every 10 ms.
    binding.implementation.streamTelemetry = serverStream(async function* (req: device.StreamTelemetryRequest, call) {
      for (let i = 0; req.maxSamples === 0 || i < req.maxSamples; i++) {
        if (call.cancelled) return;
        yield device.StreamTelemetryResponse.fromPartial({ powerW: 10 + i, seq: i });
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    const server = await startGrpcServer({ services: [binding], maxStreams: 2 });
    const c = client(server.address);
    try {
      const endless = () => {
        const call = c.streamTelemetry(device.StreamTelemetryRequest.fromPartial({ maxSamples: 0 }));
        const first = new Promise<void>((resolve, reject) => {
          call.once('data', () => resolve());
          call.once('error', reject);
        });
        return { call, first };
      };
      const one = endless();
      const two = endless();
      await Promise.all([one.first, two.first]);
      const third = endless();
      third.call.on('error', () => undefined);
      await assert.rejects(third.first, (err: grpc.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED && /2 streams open \(grpc\.maxStreams\)/.test(err.details));
      one.call.on('error', () => undefined);
      one.call.cancel();
      // The cancelled stream's slot comes back (the server hears the cancel a moment later).
      let admitted = false;
      for (let i = 0; i < 100 && !admitted; i++) {
        const again = endless();
        again.call.on('error', () => undefined);
        admitted = await again.first.then(() => true, () => false);
        if (admitted) {
          again.call.cancel();
        } else await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(admitted, 'a stream is admitted after one was cancelled');
      // Streams that end by themselves free their slot: many in a row, one slot left.
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 6; i++) {
        const seen: number[] = [];
        for await (const m of c.streamTelemetry(device.StreamTelemetryRequest.fromPartial({ maxSamples: 2 })) as AsyncIterable<device.StreamTelemetryResponse>) seen.push(m.seq);
        assert.deepEqual(seen, [0, 1]);
      }
      two.call.on('error', () => undefined);
      two.call.cancel();
    } finally {
      c.close();
      await server.shutdown(500);
    }
  });

  it('health Watch streams, which need no token, count against the same limit', async () => {
    const server = await startGrpcServer({ services: [deviceControllerBinding()], token: TOKEN, maxStreams: 2 });
    const Health = grpc.makeClientConstructor(healthService, 'Health');
    const h = new Health(server.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    try {
      const watch = () => {
        const call = h['watch']!({ service: '' }) as grpc.ClientReadableStream<{ status: string }>;
        call.on('error', () => undefined);
        const first = new Promise<string>((resolve, reject) => {
          call.once('data', (m: { status: string }) => resolve(String(m.status)));
          call.once('error', reject);
        });
        return { call, first };
      };
      const a = watch();
      const b = watch();
      assert.deepEqual(await Promise.all([a.first, b.first]), ['SERVING', 'SERVING']);
      await assert.rejects(watch().first, (err: grpc.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED);
      a.call.cancel();
      b.call.cancel();
    } finally {
      h.close();
      await server.shutdown(500);
    }
  });

  it('a limit that is not a whole number ≥ 1 is refused naming grpc.maxStreams', async () => {
    await assert.rejects(startGrpcServer({ services: [deviceControllerBinding()], maxStreams: 0 }), (err: unknown) => err instanceof ValidationError && err.field === 'grpc.maxStreams');
  });
});
