import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ORIN_AGX, ValidationError, assertOnGrid } from '@fulcrum/core';
import { device } from '@fulcrum/proto';
import { GrpcConnection, connectionOptions, peerConfigSchema } from './connection.js';
import { GrpcStatusError, errorField } from './grpc-errors.js';
import { startGrpcServer, serverStream, unary, type RunningGrpcServer } from './grpc-server.js';

const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const TOKEN = 'connection-token';

function controller(calls: { n: number }) {
  const implementation: device.DeviceControllerServer = {
    getDeviceInfo: unary(async () => device.GetDeviceInfoResponse.fromPartial({ info: { device: 'orin-agx' } })),
    setPowerMode: unary(async (req: device.SetPowerModeRequest) => {
      calls.n++;
      assertOnGrid(req.mode ?? { cores: 0, cpuMhz: 0, gpuMhz: 0, emcMhz: 0 }, ORIN_AGX.grid, 'orin-agx', 'mode');
      return device.SetPowerModeResponse.fromPartial({ mode: req.mode, previousMode: MAXN });
    }),
    getPowerMode: unary(async () => {
      calls.n++;
      return device.GetPowerModeResponse.fromPartial({ mode: MAXN });
    }),
    streamTelemetry: serverStream(async function* () {
      yield device.StreamTelemetryResponse.fromPartial({ powerW: 10 });
    }),
  };
  return { name: 'fulcrum.device.v1.DeviceController', definition: device.DeviceControllerService, implementation };
}

/** A free loopback port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const getMode = (c: GrpcConnection<device.DeviceControllerClient>) => c.unary<device.GetPowerModeResponse>('GetPowerMode', (cl, md, o, cb) => cl.getPowerMode({}, md, o, cb));

describe('GrpcConnection', () => {
  it('sends the token, and passes INVALID_ARGUMENT through at once with its field (no retry)', async () => {
    const calls = { n: 0 };
    const server = await startGrpcServer({ services: [controller(calls)], token: TOKEN });
    const retries: string[] = [];
    const conn = new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: server.address, token: TOKEN, onRetry: (m) => retries.push(m) });
    try {
      assert.deepEqual((await getMode(conn)).mode, MAXN);
      const bad = { ...MAXN, gpuMhz: 1 };
      await assert.rejects(
        conn.unary('SetPowerMode', (cl, md, o, cb) => cl.setPowerMode(device.SetPowerModeRequest.fromPartial({ mode: bad }), md, o, cb)),
        (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && errorField(err) === 'mode.gpuMhz',
      );
      assert.equal(calls.n, 2, 'one call each');
      assert.deepEqual(retries, []);
      const noToken = new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: server.address });
      await assert.rejects(getMode(noToken), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
      noToken.close();
    } finally {
      conn.close();
      await server.shutdown(500);
    }
  });

  it('retries UNAVAILABLE with backoff on fresh channels until the peer is up, then answers', async () => {
    const port = await freePort();
    const calls = { n: 0 };
    const retries: number[] = [];
    const conn = new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: `127.0.0.1:${port}`, attempts: 8, initialBackoffMs: 100, maxBackoffMs: 200, timeoutMs: 1000, onRetry: (_m, _e, attempt) => retries.push(attempt) });
    let server: RunningGrpcServer | undefined;
    try {
      const pending = getMode(conn);
      setTimeout(() => void startGrpcServer({ services: [controller(calls)], port }).then((s) => (server = s)), 250);
      assert.deepEqual((await pending).mode, MAXN);
      assert.ok(retries.length >= 1, 'it retried while nothing listened');
      assert.equal(calls.n, 1);
    } finally {
      conn.close();
      await server?.shutdown(500);
    }
  });

  it('gives up after `attempts` with UNAVAILABLE naming the peer and its address', async () => {
    const port = await freePort();
    const failures: string[] = [];
    const conn = new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: `127.0.0.1:${port}`, attempts: 3, initialBackoffMs: 10, maxBackoffMs: 20, onFailure: (m) => failures.push(m) });
    try {
      await assert.rejects(getMode(conn), (err: unknown) => {
        assert.ok(err instanceof GrpcStatusError);
        assert.equal(err.code, grpc.status.UNAVAILABLE);
        assert.match(err.message, new RegExp(`^device-controller at 127\\.0\\.0\\.1:${port} is unavailable \\(GetPowerMode, 3 attempts\\)`));
        return true;
      });
      assert.deepEqual(failures, ['GetPowerMode', 'GetPowerMode', 'GetPowerMode']);
    } finally {
      conn.close();
    }
  });

  it('TLS to a plaintext server: UNAVAILABLE with a hint at the cause', async () => {
    const server = await startGrpcServer({ services: [controller({ n: 0 })] });
    const conn = new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: `localhost:${server.port}`, tls: true, attempts: 2, initialBackoffMs: 10 });
    try {
      await assert.rejects(getMode(conn), (err: unknown) => err instanceof GrpcStatusError && err.code === grpc.status.UNAVAILABLE && /TLS to a server that speaks plaintext\?/.test(err.message));
    } finally {
      conn.close();
      await server.shutdown(500);
    }
  });

  it('decode: an answer that breaks the contract is INTERNAL naming the peer, the method and the field', () => {
    const conn = new GrpcConnection(device.DeviceControllerClient, { peer: 'device-controller', address: '127.0.0.1:1' });
    try {
      assert.equal(conn.decode('GetPowerMode', () => 7), 7);
      assert.throws(
        () => conn.decode('GetPowerMode', () => { throw new ValidationError('mode.cores', 'must be a positive whole number of cores, got 0'); }),
        (err: unknown) => err instanceof GrpcStatusError && err.code === grpc.status.INTERNAL && err.message === 'device-controller at 127.0.0.1:1 answered GetPowerMode with a bad mode.cores: must be a positive whole number of cores, got 0',
      );
      assert.throws(() => conn.decode('X', () => { throw new RangeError('other'); }), RangeError);
    } finally {
      conn.close();
    }
  });

  it('builds its options from a peer config section, and refuses an unreadable CA file before any call', () => {
    const cfg = peerConfigSchema({ port: 50051, timeoutS: 2, attempts: 3 }).parse({ token: 'abcdefgh', maxBackoffMs: 500 });
    assert.deepEqual(connectionOptions('device-controller', cfg), {
      peer: 'device-controller',
      address: '127.0.0.1:50051',
      token: 'abcdefgh',
      tls: false,
      tlsCa: undefined,
      tlsCert: undefined,
      tlsKey: undefined,
      timeoutMs: 2000,
      attempts: 3,
      initialBackoffMs: 200,
      maxBackoffMs: 500,
    });
    assert.throws(() => new GrpcConnection(device.DeviceControllerClient, { peer: 'x', address: '127.0.0.1:1', tlsCa: '/nonexistent/ca.pem' }), /ENOENT/);
  });
});
