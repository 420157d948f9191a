// The device-controller service over real gRPC on 127.0.0.1 (port 0): virtual, table and jetson
// (fake sysfs) boards, the in-process bus for the executor's activity, and a real nats-server for
// the cross-process path.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ORIN_AGX, type PowerMode } from '@fulcrum/core';
import { PROFILE_CSV_HEADER, createVirtualDevice } from '@fulcrum/devices';
import { ActivityState, activitySubject, connectNatsBus, createInProcessBus, powerSubject, type EventBus, type ExecutorActivity } from '@fulcrum/bus';
import { natsFixture } from '@fulcrum/bus/testing';
import { device as pb } from '@fulcrum/proto';
import { clientSecurity, createLogger, errorField, unaryCall } from '@fulcrum/runtime/internal';
import { LocalKnobDriver } from './driver.js';
import { openSysfs } from './fake-sysfs.js';
import { deviceControllerServiceConfig, loadDeviceControllerServiceConfig, type DeviceControllerServiceConfigInput } from './config.js';
import { startDeviceControllerService, type DeviceControllerService } from './service.js';
import type { ModelControlBackend } from './model-backend.js';
import { fakeTree, snapshotKnobFiles, tempDir } from './test-support.js';

/** The board id every controller here runs as (subjects fulcrum.<board>.…). */
const BOARD = 'test-board';
const quiet = createLogger({ name: 'test', level: 'silent' });
const MAXN: PowerMode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const MODE_15W: PowerMode = { cores: 4, cpuMhz: 1113.6, gpuMhz: 420.75, emcMhz: 2133 };
const LOW_GPU: PowerMode = { ...MAXN, gpuMhz: 420.75 };
const TOKEN = 'controller-token-1';
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function start(input: DeviceControllerServiceConfigInput, bus?: EventBus): Promise<DeviceControllerService> {
  const svc = await startDeviceControllerService(deviceControllerServiceConfig({ board: BOARD, grpc: { port: 0 }, metrics: { port: 0 }, ...input }), { logger: quiet, ...(bus ? { bus } : {}) });
  cleanups.push(() => svc.close(200));
  return svc;
}

function client(svc: { address: string }, token?: string): pb.DeviceControllerClient {
  const { credentials, options } = clientSecurity(token ? { token } : {});
  const c = new pb.DeviceControllerClient(svc.address, credentials, options);
  cleanups.push(async () => c.close());
  return c;
}

const getMode = (c: pb.DeviceControllerClient) => unaryCall<pb.GetPowerModeResponse>((o, cb) => c.getPowerMode({}, new Metadata(), o, cb));
const setMode = (c: pb.DeviceControllerClient, mode: PowerMode, settleS = 0) =>
  unaryCall<pb.SetPowerModeResponse>((o, cb) => c.setPowerMode(pb.SetPowerModeRequest.fromPartial({ mode, settleS }), new Metadata(), o, cb));
const info = (c: pb.DeviceControllerClient) => unaryCall<pb.GetDeviceInfoResponse>((o, cb) => c.getDeviceInfo({}, new Metadata(), o, cb));

function telemetry(c: pb.DeviceControllerClient, maxSamples: number, intervalMs = 5): Promise<pb.StreamTelemetryResponse[]> {
  return new Promise((resolve, reject) => {
    const out: pb.StreamTelemetryResponse[] = [];
    const call = c.streamTelemetry(pb.StreamTelemetryRequest.fromPartial({ intervalMs, maxSamples }), new Metadata(), { deadline: new Date(Date.now() + 10_000) });
    call.on('data', (s: pb.StreamTelemetryResponse) => out.push(s));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

const meanPower = (samples: readonly pb.StreamTelemetryResponse[]): number => samples.reduce((a, s) => a + s.powerW, 0) / samples.length;

async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('expected the call to fail');
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function publishActivity(bus: EventBus, device: string, activity: ExecutorActivity): Promise<void> {
  await bus.publish(activitySubject(device), { ...activity, measuredAt: new Date().toISOString() });
}

describe('device-controller service, virtual board', () => {
  it('describes the board: grid, presets, current mode, backend and hard cap', async () => {
    const svc = await start({ hardCapW: 45 });
    const c = client(svc);
    const { info: i } = await info(c);
    assert.equal(i?.device, 'orin-agx');
    assert.equal(i?.board, BOARD, 'the board id, apart from the model');
    assert.equal(i?.backend, pb.Backend.BACKEND_VIRTUAL);
    assert.equal(i?.modeCount, 18096);
    assert.deepEqual(i?.grid?.gpuMhz, [...ORIN_AGX.grid.gpuMhz]);
    assert.deepEqual(i?.presets.map((p) => p.name), ['MAXN', '15W', '30W', '50W']);
    assert.equal(i?.hardCapW, 45);
    assert.equal(i?.softwareStack, 'fulcrum-virtual-orin-agx-seed1');
    assert.match(i?.notes ?? '', /synthetic/);
    assert.deepEqual((await getMode(c)).mode, MAXN, 'a virtual board starts in MAXN');
  });

  it('refuses an off-grid mode with INVALID_ARGUMENT naming the knob, and a missing mode naming mode', async () => {
    const svc = await start({});
    const c = client(svc);
    const err = await grpcError(setMode(c, { ...MAXN, gpuMhz: 1000 }));
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.equal(errorField(err), 'mode.gpuMhz');
    assert.match(err.details, /1000 is not on the orin-agx grid.*nearest GPU MHz values/);
    const missing = await grpcError(unaryCall((o, cb) => c.setPowerMode(pb.SetPowerModeRequest.fromPartial({}), new Metadata(), o, cb)));
    assert.equal(missing.code, status.INVALID_ARGUMENT);
    assert.equal(errorField(missing), 'mode');
    const settle = await grpcError(setMode(c, MAXN, -1));
    assert.equal(errorField(settle), 'settleS');
    assert.deepEqual((await getMode(c)).mode, MAXN, 'nothing changed');
  });

  it('refuses a mode whose known power is over the hard cap with FAILED_PRECONDITION naming both', async () => {
    const svc = await start({ hardCapW: 30, initialMode: '15W' });
    const c = client(svc);
    const err = await grpcError(setMode(c, MAXN));
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.details, /mode 12,2201\.6,1300\.5,3199 is known to draw \d+\.\d+ W, over the hard power cap of 30 W/);
    assert.equal(errorField(err), 'mode');
    assert.deepEqual((await getMode(c)).mode, MODE_15W);
    const ok = await setMode(c, { ...MODE_15W, gpuMhz: 318.75 });
    assert.equal(ok.mode?.gpuMhz, 318.75, 'a mode under the cap passes');
  });

  it('sets a mode, waits the settle time, reads it back with the previous mode and the latency', async () => {
    const svc = await start({});
    const c = client(svc);
    const r = await setMode(c, MODE_15W, 0.05);
    assert.deepEqual(r.mode, MODE_15W);
    assert.deepEqual(r.previousMode, MAXN);
    assert.ok(r.switchS >= 0.05, `switchS ${r.switchS} includes the settle wait`);
    assert.deepEqual((await getMode(c)).mode, MODE_15W);
    const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
    assert.match(metrics, /fulcrum_mode_switches_total\{outcome="ok",service="device-controller",board="test-board"\} 1/);
    assert.match(metrics, /fulcrum_device_power_watts\{service="device-controller",board="test-board"\} \d/);
    assert.match(metrics, /fulcrum_device_clock_mhz\{knob="gpu",service="device-controller",board="test-board"\} 420\.75/);
  });

  it('a caller that goes away stops its settle wait: the next switch does not wait out 600 s (found by test/fuzz)', async () => {
    const svc = await start({});
    const c = client(svc);
    // The contract's longest settle, and a client that gives up after 300 ms.
    const long = unaryCall<pb.SetPowerModeResponse>((o, cb) => c.setPowerMode(pb.SetPowerModeRequest.fromPartial({ mode: MODE_15W, settleS: 600 }), new Metadata(), o, cb), 300);
    assert.equal((await grpcError(long)).code, status.DEADLINE_EXCEEDED);
    const started = Date.now();
    const r = await unaryCall<pb.SetPowerModeResponse>((o, cb) => c.setPowerMode(pb.SetPowerModeRequest.fromPartial({ mode: LOW_GPU }), new Metadata(), o, cb), 5000);
    assert.ok(Date.now() - started < 2000, `the next switch took ${Date.now() - started} ms`);
    assert.deepEqual(r.previousMode, MODE_15W, 'the abandoned switch itself was made');
    assert.deepEqual((await getMode(c)).mode, LOW_GPU);
  });

  it('power follows the executor activity on the bus and the mode: training draws more than idle, and more at a higher GPU clock', async () => {
    const bus = createInProcessBus();
    cleanups.push(() => bus.close());
    const svc = await start({ noise: 0 }, bus);
    const c = client(svc);
    const backend = svc.backend as ModelControlBackend;
    const idleMaxn = meanPower(await telemetry(c, 3));
    await publishActivity(bus, BOARD, { state: ActivityState.TRAIN, workload: 'resnet18', batchSize: 32 });
    await until('the activity to arrive', () => backend.currentActivity().state === 'train');
    const samples = await telemetry(c, 4);
    assert.equal(samples.length, 4);
    assert.deepEqual(samples.map((s) => s.seq), [0, 1, 2, 3]);
    assert.deepEqual(samples[0]!.mode, MAXN);
    const trainMaxn = meanPower(samples);
    const model = createVirtualDevice('orin-agx', { noise: 0 });
    assert.ok(Math.abs(trainMaxn - model.groundTruth({ mode: MAXN, workload: 'resnet18', kind: 'train', batchSize: 32 }).powerW) < 1e-9, 'the model power of what runs');
    await setMode(c, LOW_GPU);
    const trainLow = meanPower(await telemetry(c, 3));
    assert.ok(trainMaxn > trainLow + 10, `training at GPU 1300.5 MHz (${trainMaxn.toFixed(1)} W) draws more than at 420.75 MHz (${trainLow.toFixed(1)} W)`);
    assert.ok(trainMaxn > idleMaxn + 20, `training (${trainMaxn.toFixed(1)} W) draws more than idle (${idleMaxn.toFixed(1)} W)`);
    await publishActivity(bus, BOARD, { state: ActivityState.IDLE });
    await until('idle', () => backend.currentActivity().state === 'idle');
    const idleLow = meanPower(await telemetry(c, 2));
    assert.ok(idleLow < trainLow && idleLow < idleMaxn, 'idle power falls with the GPU clock too');
  });

  it('stops a telemetry stream when the client cancels, and publishes power on the bus', async () => {
    const bus = createInProcessBus();
    cleanups.push(() => bus.close());
    const seen: number[] = [];
    bus.subscribe(powerSubject(BOARD), (m) => {
      if (m.event.powerW !== undefined) seen.push(m.event.powerW);
    });
    const svc = await start({ telemetry: { publishIntervalMs: 10 } }, bus);
    const c = client(svc);
    const call = c.streamTelemetry(pb.StreamTelemetryRequest.fromPartial({ intervalMs: 5, maxSamples: 0 }));
    call.on('error', () => undefined); // CANCELLED, as asked
    let n = 0;
    await new Promise<void>((resolve) => {
      call.on('data', () => {
        if (++n === 3) {
          call.cancel();
          resolve();
        }
      });
    });
    let closedOnServer = false;
    for (const deadline = Date.now() + 10_000; !closedOnServer && Date.now() < deadline; await sleep(10)) {
      const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
      closedOnServer = /fulcrum_device_telemetry_streams\{[^}]*\} 0/.test(metrics);
    }
    assert.ok(closedOnServer, 'the server ended the cancelled stream');
    await until('power on the bus', () => seen.length > 0);
    assert.ok(seen.every((w) => w > 5));
  });

  it('checks the bearer token when one is configured', async () => {
    const svc = await start({ grpc: { port: 0, token: TOKEN } });
    const noToken = await grpcError(getMode(client(svc)));
    assert.equal(noToken.code, status.UNAUTHENTICATED);
    const wrong = await grpcError(getMode(client(svc, 'wrong-token-xx')));
    assert.equal(wrong.code, status.UNAUTHENTICATED);
    assert.deepEqual((await getMode(client(svc, TOKEN))).mode, MAXN);
  });

  it('restores the mode found at start when it closes', async () => {
    const svc = await startDeviceControllerService(deviceControllerServiceConfig({ grpc: { port: 0 }, metrics: { port: -1 }, initialMode: '30W' }), { logger: quiet });
    const c = client(svc);
    await setMode(c, MODE_15W);
    assert.deepEqual(await svc.backend.getMode(), MODE_15W);
    await svc.close(200);
    assert.deepEqual(await svc.backend.getMode(), { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 });
    const err = await grpcError(getMode(c));
    assert.equal(err.code, status.UNAVAILABLE, 'a closed controller is UNAVAILABLE');
  });
});

describe('device-controller service, table board', () => {
  it('accepts only the modes its profile table holds and reads power from it', async () => {
    const { dir, cleanup } = await tempDir('table');
    cleanups.push(cleanup);
    const rows = [MAXN, MODE_15W].flatMap((m) => [
      `orin-agx,resnet18,train,32,${m.cores},${m.cpuMhz},${m.gpuMhz},${m.emcMhz},${m === MAXN ? 120 : 380},${m === MAXN ? 50 : 16}`,
      `orin-agx,mobilenet,infer,4,${m.cores},${m.cpuMhz},${m.gpuMhz},${m.emcMhz},${m === MAXN ? 5 : 12},${m === MAXN ? 30 : 11}`,
    ]);
    const csv = join(dir, 'profiles.csv');
    await writeFile(csv, `${PROFILE_CSV_HEADER}\n${rows.join('\n')}\n`);
    const bus = createInProcessBus();
    cleanups.push(() => bus.close());
    const svc = await start({ backend: 'table', profiles: csv, hardCapW: 40 }, bus);
    const c = client(svc);
    const { info: i } = await info(c);
    assert.equal(i?.backend, pb.Backend.BACKEND_TABLE);
    assert.equal(i?.modeCount, 2);
    assert.equal(i?.softwareStack, 'fulcrum-table-profiles.csv');
    assert.deepEqual((await getMode(c)).mode, MAXN, 'MAXN, the table holds it');
    const notHeld = await grpcError(setMode(c, { ...MAXN, gpuMhz: 420.75 }));
    assert.equal(notHeld.code, status.INVALID_ARGUMENT);
    assert.equal(errorField(notHeld), 'mode');
    assert.match(notHeld.details, /not in the profile table/);
    const r = await setMode(c, MODE_15W);
    assert.deepEqual(r.mode, MODE_15W);
    const capped = await grpcError(setMode(c, MAXN));
    assert.equal(capped.code, status.FAILED_PRECONDITION, 'MAXN is known (from the table) to draw 50 W');
    assert.equal(meanPower(await telemetry(c, 2)), 11, 'idle: the smallest power the table holds at the mode');
    await publishActivity(bus, BOARD, { state: ActivityState.TRAIN, workload: 'resnet18', batchSize: 32 });
    await until('the activity', () => (svc.backend as ModelControlBackend).currentActivity().state === 'train');
    assert.equal(meanPower(await telemetry(c, 2)), 16);
  });
});

describe('device-controller service, jetson board (fake sysfs)', () => {
  it('switches through gRPC with read-back and restores every knob on close', async () => {
    const tree = await fakeTree('orin-agx');
    cleanups.push(tree.cleanup);
    const driver = await LocalKnobDriver.open({ io: openSysfs(tree.root) });
    const original = await snapshotKnobFiles(tree.root, driver.board);
    await driver.close();
    const svc = await startDeviceControllerService(
      deviceControllerServiceConfig({ backend: 'jetson', sysfsRoot: tree.root, grpc: { port: 0 }, metrics: { port: -1 }, jetson: { telemetryIntervalMs: 0, driftCheckIntervalMs: 0 } }),
      { logger: quiet },
    );
    const c = client(svc);
    const { info: i } = await info(c);
    assert.equal(i?.backend, pb.Backend.BACKEND_JETSON);
    const r = await setMode(c, MODE_15W);
    assert.deepEqual(r.mode, MODE_15W);
    assert.deepEqual((await getMode(c)).mode, MODE_15W);
    const off = await grpcError(setMode(c, { ...MODE_15W, cpuMhz: 1000 }));
    assert.equal(off.code, status.INVALID_ARGUMENT);
    assert.equal(errorField(off), 'mode.cpuMhz');
    const samples = await telemetry(c, 2, 10);
    assert.equal(samples.length, 2);
    assert.ok(samples[0]!.rails.length > 0, 'a board has rails');
    await svc.close(200);
    const check = await LocalKnobDriver.open({ io: openSysfs(tree.root) });
    assert.deepEqual(await snapshotKnobFiles(tree.root, check.board), original, 'every knob file is back');
    await check.close();
  });
});

describe('device-controller service config', () => {
  it('takes every key from env by the shared naming rule, with defaults for the rest', () => {
    const { config } = loadDeviceControllerServiceConfig({
      env: { FULCRUM_BACKEND: 'table', FULCRUM_PROFILES: '/tmp/p.csv', FULCRUM_HARD_CAP_W: '40', FULCRUM_NATS__URL: 'nats://127.0.0.1:4222', FULCRUM_GRPC__PORT: '6001', FULCRUM_TELEMETRY__PUBLISH_INTERVAL_MS: '0' },
    });
    assert.equal(config.backend, 'table');
    assert.equal(config.profiles, '/tmp/p.csv');
    assert.equal(config.hardCapW, 40);
    assert.equal(config.nats.url, 'nats://127.0.0.1:4222');
    assert.equal(config.grpc.port, 6001);
    assert.equal(config.grpc.host, '127.0.0.1');
    assert.equal(config.telemetry.publishIntervalMs, 0);
    assert.equal(config.jetson.telemetryIntervalMs, 1000, 'the library sections keep their defaults');
    assert.throws(() => loadDeviceControllerServiceConfig({ env: { FULCRUM_BACKEND: 'fpga' } }), /backend from env FULCRUM_BACKEND/);
    assert.equal(deviceControllerServiceConfig().device, undefined, 'unset: a table board’s own device, else orin-agx (open-board.ts)');
  });
});

describe('device-controller service as a process', () => {
  it('restores every knob on SIGTERM and exits 0; a bad flag exits 2', async () => {
    const tree = await fakeTree('orin-agx');
    cleanups.push(tree.cleanup);
    const driver = await LocalKnobDriver.open({ io: openSysfs(tree.root) });
    const original = await snapshotKnobFiles(tree.root, driver.board);
    await driver.close();
    const main = join(dirname(fileURLToPath(import.meta.url)), 'service-main.ts');
    const run = (args: string[]) => spawn(process.execPath, ['--conditions=@fulcrum/source', '--import', 'tsx', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn' } });
    const exited = (p: ReturnType<typeof run>) => new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    const bad = run(['--grpc.port=0', '--hard-cap-watts=3']);
    let badErr = '';
    bad.stderr.on('data', (d: Buffer) => (badErr += d.toString()));
    assert.equal(await exited(bad), 2);
    assert.match(badErr, /unknown flag --hard-cap-watts/);

    const proc = run(['--backend=jetson', `--sysfs-root=${tree.root}`, '--grpc.port=0', '--metrics.port=-1', '--jetson.telemetry-interval-ms=0', '--jetson.drift-check-interval-ms=0']);
    const done = exited(proc);
    const ready = JSON.parse(await new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout }).once('line', resolve);
      proc.once('exit', (code) => reject(new Error(`exited ${code} before ready`)));
    })) as { address: string };
    const c = client(ready);
    assert.deepEqual((await setMode(c, MODE_15W)).mode, MODE_15W);
    proc.kill('SIGTERM');
    assert.equal(await done, 0);
    const check = await LocalKnobDriver.open({ io: openSysfs(tree.root) });
    assert.deepEqual(await snapshotKnobFiles(tree.root, check.board), original, 'every knob file is back');
    await check.close();
  });
});

describe('device-controller service over NATS', () => {
  const nats = natsFixture();

  it('follows an executor activity published from another connection', async () => {
    const svc = await startDeviceControllerService(deviceControllerServiceConfig({ board: BOARD, grpc: { port: 0 }, metrics: { port: -1 }, nats: { url: nats.url }, noise: 0 }), { logger: quiet });
    nats.defer(() => svc.close(200));
    assert.equal(svc.bus.backend, 'nats');
    const executorSide = await connectNatsBus({ url: nats.url });
    nats.defer(() => executorSide.close());
    const c = client(svc);
    const idle = meanPower(await telemetry(c, 2));
    await publishActivity(executorSide, BOARD, { state: ActivityState.INFER, workload: 'yolov8n', batchSize: 8, stream: 'cam' });
    await until('the activity over NATS', () => (svc.backend as ModelControlBackend).currentActivity().state === 'infer');
    const busy = meanPower(await telemetry(c, 2));
    assert.ok(busy > idle, `inference (${busy.toFixed(1)} W) draws more than idle (${idle.toFixed(1)} W)`);
  });
});
