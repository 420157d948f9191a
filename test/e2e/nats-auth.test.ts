// NATS with the credentials and per-subject permissions of deploy/nats/nats-server.conf (issue 14,
// 3): a real nats-server runs that file; the device-controller and executor services connect as
// their own users; an application (user `client`) gets inference answered but cannot publish the
// events the optimizer acts on; a connection without credentials is refused; and a service refuses
// to start against a NATS beyond loopback without credentials (nothing is dialled: the address
// is refused before any connection).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { arrivalsRateSubject, connectNatsBus, eventFilter, inferSubject, isErrorReply, type EventBus } from '@fulcrum/bus';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { runCli } from '@fulcrum/cli';
import { isValidationError } from '@fulcrum/core';
import { deviceControllerServiceConfig, startDeviceControllerService, type DeviceControllerService } from '@fulcrum/device-controller';
import { executorServiceConfig, startExecutorService, type ExecutorService } from '@fulcrum/executor';
import { common, executor } from '@fulcrum/proto';
import { clientSecurity, createLogger, unaryCall } from '@fulcrum/runtime/internal';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONF = join(root, 'deploy', 'nats', 'nats-server.conf');
const ROLES = ['controller', 'executor', 'profiler', 'optimizer', 'board', 'client'] as const;
const PASS = Object.fromEntries(ROLES.map((r) => [r, `pw-${randomBytes(12).toString('hex')}`])) as Record<(typeof ROLES)[number], string>;
const quiet = createLogger({ name: 'test', level: 'silent' });
const TRAIN = common.WorkloadKind.WORKLOAD_KIND_TRAIN;
const BOARD = 'auth-board';
const INFER = common.WorkloadKind.WORKLOAD_KIND_INFER;

describe('NATS with per-role users and subject permissions (deploy/nats/nats-server.conf)', () => {
  let nats: NatsServer;
  let ctl: DeviceControllerService;
  let exec: ExecutorService;
  const buses: EventBus[] = [];
  const bus = async (role: (typeof ROLES)[number]): Promise<EventBus> => {
    const b = await connectNatsBus({ url: nats.url, user: role, pass: PASS[role], name: `test-${role}` });
    buses.push(b);
    return b;
  };

  before(async () => {
    nats = await startNatsServer({ args: ['-c', CONF], env: Object.fromEntries(ROLES.map((r) => [`FULCRUM_NATS_${r.toUpperCase()}_PASS`, PASS[r]])) });
    ctl = await startDeviceControllerService(deviceControllerServiceConfig({ board: BOARD, grpc: { port: 0 }, metrics: { port: -1 }, noise: 0, nats: { url: nats.url, user: 'controller', pass: PASS.controller } }), { logger: quiet });
    exec = await startExecutorService(
      executorServiceConfig({ board: BOARD, grpc: { port: 0 }, metrics: { port: -1 }, timeScale: 50, controller: { address: ctl.address }, nats: { url: nats.url, user: 'executor', pass: PASS.executor } }),
      { logger: quiet },
    );
    const c = new executor.ExecutorClient(exec.address, clientSecurity().credentials);
    const problem = common.Problem.fromPartial({
      device: 'orin-agx',
      trainWorkload: { name: 'resnet18', kind: TRAIN },
      trainBatchSize: 32,
      powerBudgetW: 50,
      streams: [{ name: 'cam', workload: { name: 'mobilenet', kind: INFER }, arrivalRatePerS: 20, latencyBudgetS: 0.6 }],
    });
    const plan = common.Plan.fromPartial({ planId: 'auth-1', mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, streams: [{ stream: 'cam', batchSize: 2, utilization: 0.05 }], strategy: 'manual', feasible: true, trainTimeMs: 120 });
    await unaryCall((o, cb) => c.applyPlan(executor.ApplyPlanRequest.fromPartial({ problem, plan }), new grpc.Metadata(), o, cb), 20_000);
    c.close();
  });
  after(async () => {
    for (const b of buses) await b.close().catch(() => undefined);
    await exec?.close(100);
    await ctl?.close(100);
    await nats?.stop();
  });

  it('refuses a connection without credentials, or with a wrong password', async () => {
    await assert.rejects(connectNatsBus({ url: nats.url }), /Authorization Violation.*wants credentials: nats.user \+ nats.pass/i);
    await assert.rejects(connectNatsBus({ url: nats.url, user: 'executor', pass: 'guess' }), /Authorization Violation.*user "executor" was refused/i);
  });

  it('the services run as their own users: an application (user client) gets inference answered over NATS', async () => {
    const app = await bus('client');
    const reply = await app.request(inferSubject(BOARD, 'cam'), { requestId: 'auth-req-1', input: [1, 2] }, { timeoutMs: 10_000 });
    assert.ok(!isErrorReply(reply), JSON.stringify(reply));
    assert.equal(reply.requestId, 'auth-req-1');
  });

  it('an application cannot forge arrivals.rate (what the optimizer re-plans on); the executor user can', async () => {
    const optimizerBus = await bus('optimizer');
    const seen: number[] = [];
    optimizerBus.subscribe(eventFilter('arrivals.rate'), (m) => void seen.push(m.event.streams[0]?.arrivalRatePerS ?? -1));
    await sleep(200); // the subscription is live on the server
    const event = (rate: number) => ({ measuredAt: new Date().toISOString(), windowS: 10, streams: [{ stream: 'cam', arrivalRatePerS: rate, plannedRatePerS: 20 }] });
    const app = await bus('client');
    await app.publish(arrivalsRateSubject(BOARD), event(999)).catch(() => undefined);
    // Positive control: the same event from the executor's user arrives.
    const executorBus = await bus('executor');
    await executorBus.publish(arrivalsRateSubject(BOARD), event(21));
    for (let i = 0; i < 100 && !seen.includes(21); i++) await sleep(20);
    await sleep(200);
    // (The running executor publishes its own measured rates too; the forged 999 never arrives.)
    assert.ok(seen.includes(21), `the executor user's event arrived: ${JSON.stringify(seen)}`);
    assert.ok(!seen.includes(999), `the application's forged event was refused: ${JSON.stringify(seen)}`);
  });

  it('a service refuses a NATS beyond loopback without credentials (nats.url, exit 2), before dialling it', async () => {
    await assert.rejects(
      startExecutorService(executorServiceConfig({ grpc: { port: 0 }, metrics: { port: -1 }, nats: { url: 'nats://192.0.2.10:4222' } }), { logger: quiet }),
      (err: unknown) => isValidationError(err) && err.field === 'nats.url' && /beyond loopback and no credentials/.test(err.message),
    );
    let stderr = '';
    const code = await runCli(['serve', 'executor', '--nats', 'nats://192.0.2.10:4222', '--grpc.port=0'], { stdout: () => undefined, stderr: (t) => void (stderr += t) });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /nats\.url: "192\.0\.2\.10" is beyond loopback and no credentials are set/);
  });
});
