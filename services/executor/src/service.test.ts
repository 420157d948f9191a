// The executor service over real gRPC on 127.0.0.1 (port 0) with a real device-controller
// service (virtual board) beside it; the in-process bus where NATS is not the point, a real
// nats-server for inference requests and garbage on the infer subject.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { PowerMode } from '@fulcrum/core';
import { createVirtualDevice } from '@fulcrum/devices';
import { connectNatsBus, createInProcessBus, decodeInferenceReply, eventFilter, inferSubject, isErrorReply, type BoardAnnounceEvent, type EventBus, type PlanAppliedEvent } from '@fulcrum/bus/internal';
import { natsFixture } from '@fulcrum/bus/testing';
import { contentHash } from '@fulcrum/workloads';
import { writeTinyWorkload } from '@fulcrum/workloads/testing';
import { deviceControllerServiceConfig, startDeviceControllerService, type DeviceControllerService, type ModelControlBackend } from '@fulcrum/device-controller';
import { common, device as dpb, executor as pb } from '@fulcrum/proto';
import { clientSecurity, createLogger, errorField, unaryCall } from '@fulcrum/runtime/internal';
import { MAX_QUEUE_DEPTH, executorServiceConfig, loadExecutorServiceConfig, type ExecutorServiceConfigInput } from './config.js';
import { startExecutorService, type ExecutorService } from './service.js';

const quiet = createLogger({ name: 'test', level: 'silent' });
const MAXN: PowerMode = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const LOW_GPU: PowerMode = { ...MAXN, gpuMhz: 420.75 };
const TRAIN = common.WorkloadKind.WORKLOAD_KIND_TRAIN;
const INFER = common.WorkloadKind.WORKLOAD_KIND_INFER;
const TOKEN = 'executor-token-1';
/** The board id of every executor here (subjects fulcrum.<board>.…). */
const BOARD = 'test-board';
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function problem(overrides: Partial<common.Problem> = {}): common.Problem {
  return common.Problem.fromPartial({
    device: 'orin-agx',
    trainWorkload: { name: 'resnet18', kind: TRAIN },
    trainBatchSize: 32,
    powerBudgetW: 50,
    streams: [{ name: 'cam', workload: { name: 'mobilenet', kind: INFER }, arrivalRatePerS: 20, latencyBudgetS: 0.6 }],
    ...overrides,
  });
}

function plan(overrides: Partial<common.Plan> = {}): common.Plan {
  return common.Plan.fromPartial({ planId: 'p1', mode: MAXN, streams: [{ stream: 'cam', batchSize: 4, utilization: 0.05 }], strategy: 'manual', feasible: true, trainTimeMs: 120, ...overrides });
}

async function controller(bus?: EventBus, port = 0): Promise<DeviceControllerService> {
  const svc = await startDeviceControllerService(deviceControllerServiceConfig({ board: BOARD, grpc: { port }, metrics: { port: -1 }, noise: 0 }), { logger: quiet, ...(bus ? { bus } : {}) });
  cleanups.push(() => svc.close(100));
  return svc;
}

async function executorService(input: ExecutorServiceConfigInput, bus?: EventBus): Promise<ExecutorService> {
  const svc = await startExecutorService(executorServiceConfig({ board: BOARD, grpc: { port: 0 }, metrics: { port: 0 }, timeScale: 100, ...input }), { logger: quiet, ...(bus ? { bus } : {}) });
  cleanups.push(() => svc.close(100));
  return svc;
}

function client(svc: { address: string }, token?: string): pb.ExecutorClient {
  const { credentials, options } = clientSecurity(token ? { token } : {});
  const c = new pb.ExecutorClient(svc.address, credentials, options);
  cleanups.push(async () => c.close());
  return c;
}

function controllerClient(svc: { address: string }): dpb.DeviceControllerClient {
  const c = new dpb.DeviceControllerClient(svc.address, clientSecurity().credentials);
  cleanups.push(async () => c.close());
  return c;
}

const applyPlan = (c: pb.ExecutorClient, req: Partial<pb.ApplyPlanRequest>) =>
  unaryCall<pb.ApplyPlanResponse>((o, cb) => c.applyPlan(pb.ApplyPlanRequest.fromPartial(req), new Metadata(), o, cb));
const getStatus = (c: pb.ExecutorClient) => unaryCall<pb.StatusResponse>((o, cb) => c.status({}, new Metadata(), o, cb));
const runMeasurement = (c: pb.ExecutorClient, req: Partial<pb.RunMeasurementRequest>, timeoutMs = 20_000) =>
  unaryCall<pb.RunMeasurementResponse>((o, cb) => c.runMeasurement(pb.RunMeasurementRequest.fromPartial(req), new Metadata(), o, cb), timeoutMs);
const inferCall = (c: pb.ExecutorClient, req: Partial<pb.InferRequest>) => unaryCall<pb.InferResponse>((o, cb) => c.infer(pb.InferRequest.fromPartial(req), new Metadata(), o, cb));
const setControllerMode = (c: dpb.DeviceControllerClient, mode: PowerMode) =>
  unaryCall<dpb.SetPowerModeResponse>((o, cb) => c.setPowerMode(dpb.SetPowerModeRequest.fromPartial({ mode }), new Metadata(), o, cb));

async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('expected the call to fail');
}

async function invalid(p: Promise<unknown>, field: string, reason?: RegExp): Promise<void> {
  const err = await grpcError(p);
  assert.equal(err.code, status.INVALID_ARGUMENT, `${field}: ${err.details}`);
  assert.equal(errorField(err), field, err.details);
  if (reason) assert.match(err.details, reason);
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const model = createVirtualDevice('orin-agx', { noise: 0 });
const truthMs = (mode: PowerMode, workload: string, kind: 'train' | 'infer', batchSize: number): number => model.groundTruth({ mode, workload, kind, batchSize }).timeMs;

describe('executor service with a device-controller (in-process bus)', () => {
  let bus: EventBus;
  let ctl: DeviceControllerService;
  let svc: ExecutorService;
  let c: pb.ExecutorClient;
  before(async () => {
    bus = createInProcessBus();
    cleanups.push(() => bus.close());
    ctl = await controller(bus);
    svc = await executorService({ controller: { address: ctl.address, attempts: 2, timeoutS: 1 } }, bus);
    c = client(svc);
  });

  it('is idle before a plan: Status IDLE, Infer UNAVAILABLE', async () => {
    const s = await getStatus(c);
    assert.equal(s.state, pb.State.STATE_IDLE);
    assert.deepEqual([s.board, s.device], [BOARD, 'orin-agx'], 'Status names the board and its model');
    const err = await grpcError(inferCall(c, { stream: 'cam' }));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /no plan applied yet/);
  });

  it('rejects bad problems and plans with INVALID_ARGUMENT naming the field', async () => {
    await invalid(applyPlan(c, { plan: plan() }), 'problem', /is required/);
    await invalid(applyPlan(c, { problem: problem(), plan: undefined }), 'plan', /is required/);
    const stream = (s: Partial<common.InferenceStream>) => [common.InferenceStream.fromPartial({ name: 'cam', workload: { name: 'mobilenet', kind: INFER }, arrivalRatePerS: 20, latencyBudgetS: 0.6, ...s })];
    await invalid(applyPlan(c, { problem: problem({ streams: stream({ workload: { name: 'alexnet', kind: INFER } }) }), plan: plan() }), 'problem.streams[0].workload.name', /unknown workload "alexnet"/);
    await invalid(applyPlan(c, { problem: problem({ trainWorkload: { name: 'resnet18', kind: INFER } }), plan: plan() }), 'problem.trainWorkload.kind');
    await invalid(applyPlan(c, { problem: problem({ streams: stream({ arrivalRatePerS: 0 }) }), plan: plan() }), 'problem.streams[0].arrivalRatePerS', /positive/);
    await invalid(applyPlan(c, { problem: problem({ streams: stream({ latencyBudgetS: -1 }) }), plan: plan() }), 'problem.streams[0].latencyBudgetS');
    await invalid(applyPlan(c, { problem: problem({ powerBudgetW: -5 }), plan: plan() }), 'problem.powerBudgetW');
    await invalid(applyPlan(c, { problem: problem({ device: 'agx-xavier' }), plan: plan() }), 'problem.device', /this executor runs "orin-agx"/);
    await invalid(applyPlan(c, { problem: problem(), plan: plan({ streams: [{ stream: 'lidar', batchSize: 4, predictedLatencyS: 0, utilization: 0 }] }) }), 'plan.streams[0].stream', /"lidar" is not a stream of the problem/);
    await invalid(applyPlan(c, { problem: problem(), plan: plan({ streams: [] }) }), 'plan.streams', /no batch size for problem stream "cam"/);
    await invalid(applyPlan(c, { problem: problem(), plan: plan({ streams: [{ stream: 'cam', batchSize: 0, predictedLatencyS: 0, utilization: 0 }] }) }), 'plan.streams[0].batchSize');
    await invalid(applyPlan(c, { problem: problem(), plan: plan({ mode: undefined }) }), 'plan.mode', /is required/);
    // Off the grid: named as the plan's field (the executor's device model and the controller agree).
    await invalid(applyPlan(c, { problem: problem(), plan: plan({ mode: { ...MAXN, gpuMhz: 1000 } }) }), 'plan.mode.gpuMhz', /not on the orin-agx grid/);
    assert.equal((await getStatus(c)).state, pb.State.STATE_IDLE, 'nothing was applied');
  });

  it('refuses stream names the bus cannot carry — empty, _cam, -cam, 100,000 characters — with a short error, and the channel keeps working (issue 14, 4 and 5)', async () => {
    const named = (name: string) => problem({ streams: [common.InferenceStream.fromPartial({ name, workload: { name: 'mobilenet', kind: INFER }, arrivalRatePerS: 20, latencyBudgetS: 0.6 })] });
    for (const name of ['', '_cam', '-cam', 'x'.repeat(100_000)]) {
      const err = await grpcError(applyPlan(c, { problem: named(name), plan: plan({ streams: [{ stream: name, batchSize: 4, predictedLatencyS: 0, utilization: 0 }] }) }));
      assert.equal(err.code, status.INVALID_ARGUMENT, `${name.slice(0, 10)}: ${err.details.slice(0, 200)}`);
      assert.equal(errorField(err), 'problem.streams[0].name');
      assert.match(err.details, /a stream name must be 1–64 letters, digits, '-' or '_', starting with a letter or digit/);
      assert.ok(err.details.length < 400, `a short message, not the value: ${err.details.length} characters`);
    }
    assert.match((await grpcError(applyPlan(c, { problem: named('x'.repeat(100_000)), plan: plan() }))).details, /"x{64}"… \(100000 characters\)/);
    // The same channel answers the next call at once.
    assert.equal((await getStatus(c)).state, pb.State.STATE_IDLE);
  });

  it('refuses a minibatch larger than the documented limit before it can hold the GPU (issue 14, 2)', async () => {
    await invalid(runMeasurement(c, { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 2 ** 31 - 1, warmupMinibatches: 0, measuredMinibatches: 1 }), 'batchSize', /must be at most 4096/);
    await invalid(applyPlan(c, { problem: problem({ trainBatchSize: 65_536 }), plan: plan() }), 'problem.trainBatchSize', /must be at most 4096/);
    await invalid(applyPlan(c, { problem: problem(), plan: plan({ streams: [{ stream: 'cam', batchSize: 100_000, predictedLatencyS: 0, utilization: 0 }] }) }), 'plan.streams[0].batchSize', /must be at most 4096/);
    assert.equal((await getStatus(c)).state, pb.State.STATE_IDLE, 'nothing ran');
  });

  it('applies a plan through the controller, publishes plan.applied and reports Status', async () => {
    const seen: PlanAppliedEvent[] = [];
    const sub = bus.subscribe(eventFilter('plan.applied', BOARD), (m) => void seen.push(m.event));
    await sub.ready;
    const r = await applyPlan(c, { problem: problem(), plan: plan({ mode: LOW_GPU }) });
    assert.equal(r.planId, 'p1');
    assert.deepEqual(r.mode, LOW_GPU, 'the mode read back from the controller');
    assert.ok(r.appliedAt instanceof Date);
    assert.deepEqual(await ctl.backend.getMode(), LOW_GPU, 'the controller switched');
    await Promise.all(Array.from({ length: 20 }, (_, i) => svc.infer('cam', [i])));
    await until('the controller to hear what runs', () => (ctl.backend as ModelControlBackend).currentActivity().state !== 'idle');
    await sleep(100);
    const s = await getStatus(c);
    assert.equal(s.state, pb.State.STATE_RUNNING);
    assert.equal(s.plan?.planId, 'p1');
    assert.deepEqual(s.plan?.mode, LOW_GPU);
    assert.equal(s.streams.length, 1);
    assert.equal(s.streams[0]!.stream, 'cam');
    assert.equal(s.streams[0]!.batchSize, 4);
    assert.equal(s.streams[0]!.completed, 20);
    assert.ok(s.streams[0]!.latencyP99S > 0 && s.streams[0]!.latencyP99S >= s.streams[0]!.latencyP50S);
    assert.ok(s.trainMinibatches > 0 && s.trainThroughputSamplesPerS > 0, 'training runs between inference minibatches');
    assert.ok(s.verdict, 'a verdict');
    await sub.drain();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.planId, 'p1');
    assert.deepEqual(seen[0]!.mode, LOW_GPU);
    assert.equal(seen[0]!.trainWorkload, 'resnet18');
    assert.equal(seen[0]!.strategy, 'manual');
    assert.equal(seen[0]!.feasible, true, "the planner's verdict");
    assert.equal(seen[0]!.streams[0]!.utilization, 0.05, "the plan's predictions");
    // Switching back: the next plan takes effect at a minibatch boundary.
    const r2 = await applyPlan(c, { problem: problem(), plan: plan({ planId: 'p2', streams: [{ stream: 'cam', batchSize: 8, predictedLatencyS: 0, utilization: 0 }] }) });
    assert.deepEqual(r2.mode, MAXN);
    const s2 = await getStatus(c);
    assert.equal(s2.plan?.planId, 'p2');
    assert.equal(s2.streams[0]!.batchSize, 8);
    const metrics = (await (await fetch(`${svc.metricsUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith('fulcrum_executor_')).join('\n');
    const answered = [...metrics.matchAll(/fulcrum_executor_requests_total\{stream="cam",outcome="(?:ok|late)",service="executor",board="test-board"\} (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    assert.equal(answered, 20, metrics);
    assert.match(metrics, /fulcrum_executor_request_latency_seconds_count\{[^}]*stream="cam"[^}]*\} 20/);
    assert.match(metrics, /fulcrum_executor_queue_depth\{stream="cam",service="executor",board="test-board"\} \d+/);
    assert.match(metrics, /fulcrum_executor_plans_applied_total\{service="executor",board="test-board"\} 2/);
  });

  it('measures at the mode the controller is in: a lower GPU clock gives longer minibatches, as the model says', async () => {
    const cc = controllerClient(ctl);
    const req = { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 32, warmupMinibatches: 2, measuredMinibatches: 8 };
    await setControllerMode(cc, MAXN);
    const fast = await runMeasurement(c, req);
    assert.equal(fast.minibatchTimesMs.length, 8);
    assert.equal(fast.runner, 'simulated');
    assert.equal(fast.softwareStack, 'fulcrum-virtual-orin-agx-seed1');
    assert.ok(fast.windowStart! <= fast.windowEnd!);
    await setControllerMode(cc, LOW_GPU);
    const slow = await runMeasurement(c, req);
    const fastMs = mean(fast.minibatchTimesMs);
    const slowMs = mean(slow.minibatchTimesMs);
    assert.ok(slowMs > 2 * fastMs, `GPU 420.75 MHz (${slowMs.toFixed(1)} ms) is much slower than 1300.5 MHz (${fastMs.toFixed(1)} ms)`);
    // Seeded noise of 2.5% per minibatch; the mean of 8 is well within 5% of the model.
    assert.ok(Math.abs(fastMs / truthMs(MAXN, 'resnet18', 'train', 32) - 1) < 0.05);
    assert.ok(Math.abs(slowMs / truthMs(LOW_GPU, 'resnet18', 'train', 32) - 1) < 0.05);
    const inferReq = await runMeasurement(c, { workload: { name: 'mobilenet', kind: INFER }, batchSize: 16, warmupMinibatches: 0, measuredMinibatches: 3 });
    assert.ok(Math.abs(mean(inferReq.minibatchTimesMs) / truthMs(LOW_GPU, 'mobilenet', 'infer', 16) - 1) < 0.08);
  });

  it('reports MEASURING while a measurement holds the GPU, then RUNNING again', async () => {
    const long = runMeasurement(c, { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 32, warmupMinibatches: 0, measuredMinibatches: 100 });
    await until('MEASURING', () => svc.runner.measuring);
    assert.equal((await getStatus(c)).state, pb.State.STATE_MEASURING);
    assert.equal((await long).minibatchTimesMs.length, 100);
    assert.equal((await getStatus(c)).state, pb.State.STATE_RUNNING);
  });

  it('rejects bad measurement requests naming the field', async () => {
    await invalid(runMeasurement(c, { workload: { name: 'alexnet', kind: TRAIN }, batchSize: 8, measuredMinibatches: 1 }), 'workload.name', /unknown workload "alexnet"/);
    await invalid(runMeasurement(c, { workload: { name: 'resnet18', kind: 0 }, batchSize: 8, measuredMinibatches: 1 }), 'workload.kind');
    await invalid(runMeasurement(c, { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 0, measuredMinibatches: 1 }), 'batchSize');
    await invalid(runMeasurement(c, { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 8, measuredMinibatches: 0 }), 'measuredMinibatches');
  });

  it('answers Infer directly, and NOT_FOUND for a stream the plan lacks', async () => {
    const r = await inferCall(c, { stream: 'cam', requestId: 'direct-1', input: Buffer.from('[1,2]'), contentType: 'application/json' });
    assert.equal(r.requestId, 'direct-1');
    assert.equal(r.contentType, 'application/json');
    assert.ok(r.latencyS > 0 && r.batchSize >= 1);
    const unknown = await grpcError(inferCall(c, { stream: 'lidar' }));
    assert.equal(unknown.code, status.NOT_FOUND);
    await invalid(inferCall(c, { stream: 'cam', input: Buffer.from('{not json'), contentType: 'application/json' }), 'input', /not JSON/);
    // The request id is echoed: bounded as on the bus (256 characters).
    assert.equal((await inferCall(c, { stream: 'cam', requestId: 'x'.repeat(256), input: Buffer.from('[1]'), contentType: 'application/json' })).requestId.length, 256);
    await invalid(inferCall(c, { stream: 'cam', requestId: 'x'.repeat(1_000_000), input: Buffer.from('[1]'), contentType: 'application/json' }), 'requestId', /at most 256 characters, got 1000000/);
  });
});

describe('executor measurement while the controller follows its activity (time scale 10)', () => {
  it("the controller's power samples inside the measured window are the model's power of what ran", async () => {
    const bus = createInProcessBus();
    cleanups.push(() => bus.close());
    const ctl = await controller(bus);
    const svc = await executorService({ timeScale: 10, controller: { address: ctl.address } }, bus);
    const cc = controllerClient(ctl);
    await setControllerMode(cc, LOW_GPU);
    const samples: dpb.StreamTelemetryResponse[] = [];
    const stream = cc.streamTelemetry(dpb.StreamTelemetryRequest.fromPartial({ intervalMs: 5 }));
    stream.on('data', (s: dpb.StreamTelemetryResponse) => samples.push(s));
    stream.on('error', () => undefined);
    const r = await runMeasurement(client(svc), { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 32, warmupMinibatches: 1, measuredMinibatches: 5 });
    stream.cancel();
    const inWindow = samples.filter((s) => s.measuredAt! >= r.windowStart! && s.measuredAt! <= r.windowEnd!);
    assert.ok(inWindow.length >= 3, `samples in the window: ${inWindow.length}`);
    const expected = model.groundTruth({ mode: LOW_GPU, workload: 'resnet18', kind: 'train', batchSize: 32 }).powerW;
    for (const s of inWindow) assert.ok(Math.abs(s.powerW - expected) < 1e-9, `${s.powerW} W vs the model's ${expected} W`);
    await sleep(100);
    assert.equal((ctl.backend as ModelControlBackend).currentActivity().state, 'idle', 'idle again after the measurement');
  });
});

describe('executor service when the device-controller goes away', () => {
  it('fails a measurement with UNAVAILABLE after bounded retries, keeps serving the plan, and measures again once the controller is back', async () => {
    const bus = createInProcessBus();
    cleanups.push(() => bus.close());
    const first = await startDeviceControllerService(deviceControllerServiceConfig({ board: BOARD, grpc: { port: 0 }, metrics: { port: -1 } }), { logger: quiet, bus });
    const port = first.port;
    const svc = await executorService({ controller: { address: first.address, attempts: 3, timeoutS: 0.5, initialBackoffMs: 50, maxBackoffMs: 200 } }, bus);
    const c = client(svc);
    await applyPlan(c, { problem: problem(), plan: plan() });
    const req = { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 32, warmupMinibatches: 0, measuredMinibatches: 2 };
    await runMeasurement(c, req);
    await first.close(100);

    const down = await grpcError(runMeasurement(c, req));
    assert.equal(down.code, status.UNAVAILABLE);
    assert.match(down.details, /device-controller at 127\.0\.0\.1:\d+ is unavailable \(GetPowerMode, 3 attempts\)/);
    const planDown = await grpcError(applyPlan(c, { problem: problem(), plan: plan({ planId: 'p-down' }) }));
    assert.equal(planDown.code, status.UNAVAILABLE);
    const served = await svc.infer('cam');
    assert.equal(served.planId, 'p1', 'still serving the plan it has');
    assert.equal((await getStatus(c)).plan?.planId, 'p1');
    const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
    assert.match(metrics, /fulcrum_executor_controller_failures_total\{method="GetPowerMode",service="executor",board="test-board"\} [3-9]/);

    await controller(bus, port);
    const back = await runMeasurement(c, req);
    assert.equal(back.minibatchTimesMs.length, 2);
  });
});

describe('executor service config', () => {
  it('takes every key from env by the shared naming rule, with defaults for the rest', () => {
    const { config } = loadExecutorServiceConfig({
      env: {
        FULCRUM_RUNNER: 'host',
        FULCRUM_TIME_SCALE: '100',
        FULCRUM_CONTROLLER__ADDRESS: '127.0.0.1:50051',
        FULCRUM_CONTROLLER__TOKEN: 'abcdefgh12',
        FULCRUM_NATS__URL: 'nats://127.0.0.1:4222',
        FULCRUM_WORKLOADS__PATHS: '/opt/a,/opt/b',
      },
    });
    assert.equal(config.runner, 'host');
    assert.equal(config.timeScale, 100);
    assert.equal(config.controller.address, '127.0.0.1:50051');
    assert.equal(config.controller.attempts, 3);
    assert.equal(config.nats.url, 'nats://127.0.0.1:4222');
    assert.deepEqual(config.workloads.paths, ['/opt/a', '/opt/b']);
    assert.throws(() => loadExecutorServiceConfig({ env: { FULCRUM_TIME_SCALE: '-1' } }), /timeScale from env FULCRUM_TIME_SCALE/);
    assert.equal(executorServiceConfig().runner, 'simulated');
  });

  it('bounds executor.maxQueueDepth at MAX_QUEUE_DEPTH (100,000 requests per stream), naming the key', () => {
    const depth = (value: string) => loadExecutorServiceConfig({ env: { FULCRUM_EXECUTOR__MAX_QUEUE_DEPTH: value } }).config.executor.maxQueueDepth;
    assert.equal(depth(String(MAX_QUEUE_DEPTH)), 100_000);
    assert.throws(() => depth('1000000'), /config: executor\.maxQueueDepth from env FULCRUM_EXECUTOR__MAX_QUEUE_DEPTH: must be at most 100000 \(each queued request holds memory; deeper queues only hold late requests\), got 1000000/);
    assert.throws(() => depth('0'), /executor\.maxQueueDepth from env FULCRUM_EXECUTOR__MAX_QUEUE_DEPTH: Too small/);
    assert.throws(() => executorServiceConfig({ executor: { maxQueueDepth: 1e308 } }), /must be at most 100000/);
  });
});

describe('executor service auth', () => {
  it('checks the bearer token when one is configured', async () => {
    const svc = await executorService({ grpc: { port: 0, token: TOKEN } });
    const err = await grpcError(getStatus(client(svc)));
    assert.equal(err.code, status.UNAUTHENTICATED);
    assert.equal((await getStatus(client(svc, TOKEN))).state, pb.State.STATE_IDLE);
  });
});

describe('executor service over NATS', () => {
  const nats = natsFixture();

  it('answers inference requests on fulcrum.<board>.infer.<stream>, and garbage with an explicit invalid error', async () => {
    // No controller: the plan's mode is used as is.
    const svc = await startExecutorService(executorServiceConfig({ board: BOARD, grpc: { port: 0 }, metrics: { port: -1 }, timeScale: 100, nats: { url: nats.url } }), { logger: quiet });
    nats.defer(() => svc.close(100));
    assert.equal(svc.bus.backend, 'nats');
    const app = await connectNatsBus({ url: nats.url });
    nats.defer(() => app.close());
    const before = await app.request(inferSubject(BOARD, 'cam'), { requestId: 'early' }, { timeoutMs: 2000 });
    assert.ok(isErrorReply(before) && before.error.code === 'unavailable', 'no plan yet');
    await applyPlan(client(svc), { problem: problem(), plan: plan() });
    const replies = await Promise.all([1, 2, 3, 4].map((i) => app.request(inferSubject(BOARD, 'cam'), { requestId: `r${i}`, input: [i] }, { timeoutMs: 5000 })));
    for (const [i, r] of replies.entries()) {
      assert.ok(!isErrorReply(r), JSON.stringify(r));
      assert.equal(r.requestId, `r${i + 1}`);
      assert.ok(r.latencyS > 0);
    }
    const unknown = await app.request(inferSubject(BOARD, 'lidar'), { requestId: 'x' }, { timeoutMs: 2000 });
    assert.ok(isErrorReply(unknown) && unknown.error.code === 'shed', 'no plan serves that stream');
    const garbage = decodeInferenceReply(await app.requestRaw(`fulcrum.${BOARD}.infer.cam`, 'this is not json', { timeoutMs: 2000 }));
    assert.ok(isErrorReply(garbage));
    assert.equal(garbage.error.code, 'invalid');
    const badField = decodeInferenceReply(await app.requestRaw(`fulcrum.${BOARD}.infer.cam`, JSON.stringify({ requestId: 42 }), { timeoutMs: 2000 }));
    assert.ok(isErrorReply(badField) && badField.error.code === 'invalid' && /requestId/.test(badField.error.message));
    // Still serving after the garbage.
    const after = await app.request(inferSubject(BOARD, 'cam'), { requestId: 'after' }, { timeoutMs: 5000 });
    assert.ok(!isErrorReply(after));
  });

  it('a graceful close announces the board one last time, state stopped, so an optimizer stops listing it as running (SPEC §1)', async () => {
    const board = 'stopping-board';
    const app = await connectNatsBus({ url: nats.url });
    nats.defer(() => app.close());
    const heard: BoardAnnounceEvent[] = [];
    const sub = app.subscribe(eventFilter('board.announce', board), (m) => void heard.push(m.event));
    await sub.ready;
    const svc = await startExecutorService(executorServiceConfig({ board, grpc: { port: 0 }, metrics: { port: -1 }, timeScale: 100, nats: { url: nats.url } }), { logger: quiet });
    nats.defer(() => svc.close(100));
    await applyPlan(client(svc), { problem: problem(), plan: plan({ planId: 'before-stop' }) });
    // The announcement 1 s after start says the plan runs.
    await until('a running announcement', () => heard.some((e) => e.state === 'running'), 5000);
    await svc.close(100);
    const last = heard.at(-1)!;
    assert.equal(last.state, 'stopped', `heard ${heard.map((e) => e.state).join(', ')}`);
    assert.equal(last.planId, undefined, 'no plan runs on a stopped board');
    assert.equal(last.device, 'orin-agx');
    // Nothing after it: the periodic announcements (the one at 3 s included) stopped with the board.
    const count = heard.length;
    await sleep(300);
    assert.equal(heard.length, count);
  });
});

describe('executor service on the host runner (real PyTorch)', () => {
  it("runs a measurement of a user's workload folder on a PyTorch worker, its stack naming the folder's hash; an unknown workload is refused by name", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-exec-wl-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const folder = writeTinyWorkload(join(dir, 'my-mlp'), { name: 'my-mlp' });
    const svc = await executorService({ runner: 'host', timeScale: 1, host: { device: 'cpu' }, workloads: { paths: [folder] }, checkpoints: { enabled: false } });
    const r = await runMeasurement(client(svc), { workload: { name: 'my-mlp', kind: TRAIN }, batchSize: 4, warmupMinibatches: 1, measuredMinibatches: 3 }, 120_000);
    assert.equal(r.runner, 'python-torch');
    assert.equal(r.minibatchTimesMs.length, 3);
    assert.ok(r.minibatchTimesMs.every((t) => t > 0));
    assert.match(r.softwareStack, new RegExp(`^python-torch-.+-cpu#my-mlp@${contentHash(folder).slice(0, 12)}$`));
    const err = await grpcError(runMeasurement(client(svc), { workload: { name: 'their-model', kind: TRAIN }, batchSize: 4, warmupMinibatches: 0, measuredMinibatches: 1 }));
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /unknown workload "their-model"; known workloads: .*my-mlp/);
  });

  it("an executor restart resumes the user's training from the checkpoint its stop saved (the step count continues), reported in Status", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-exec-restart-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const folder = writeTinyWorkload(join(dir, 'my-mlp'), { name: 'my-mlp', loadDelayS: 0.002 });
    const config: ExecutorServiceConfigInput = { runner: 'host', timeScale: 1, host: { device: 'cpu' }, workloads: { paths: [folder] }, checkpoints: { dir: join(dir, 'cp'), everySteps: 0, everyS: 0 } };
    const own = problem({ trainWorkload: { name: 'my-mlp', kind: TRAIN }, trainBatchSize: 8, streams: [{ name: 'cam', workload: { name: 'my-mlp', kind: INFER }, arrivalRatePerS: 5, latencyBudgetS: 1, candidateBatchSizes: [] }] });
    const stepsAfter = async (svc: ExecutorService, least: number): Promise<pb.StatusResponse> => {
      for (let i = 0; i < 200; i++) {
        const st = await getStatus(client(svc));
        if ((st.trainStep ?? 0) >= least) return st;
        await sleep(50);
      }
      throw new Error(`training did not reach step ${least}`);
    };
    const first = await executorService(config);
    await applyPlan(client(first), { problem: own, plan: plan() });
    const before = await stepsAfter(first, 20);
    assert.ok(before.trainLoadS >= 0.002, `data loading reported apart: ${before.trainLoadS} s`);
    assert.ok(Number.isFinite(before.trainLoss));
    await first.close(100); // a clean stop saves the checkpoint (no periodic saves configured)
    const stoppedAt = first.node.status().executor?.trainStep ?? 0;
    assert.ok(stoppedAt >= 20);
    const second = await executorService(config);
    await applyPlan(client(second), { problem: own, plan: plan() });
    const after2 = await stepsAfter(second, stoppedAt + 1);
    assert.ok((after2.trainStep ?? 0) > stoppedAt, `resumed past step ${stoppedAt}: ${after2.trainStep}`);
  });
});

describe('inference without an input (host runner, real PyTorch, NATS and gRPC)', () => {
  const nats = natsFixture();

  it('is served on a generated sample on both paths, by design (README), and a given input in the same minibatch is answered on itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-exec-noinput-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const folder = writeTinyWorkload(join(dir, 'my-mlp'), { name: 'my-mlp' });
    const svc = await executorService({ runner: 'host', timeScale: 1, host: { device: 'cpu', onnx: false }, workloads: { paths: [folder] }, checkpoints: { enabled: false }, nats: { url: nats.url } });
    const c = client(svc);
    // b = 3 and a long budget: three requests sent together run as one minibatch (the same weights).
    const own = problem({ trainWorkload: { name: 'my-mlp', kind: TRAIN }, trainBatchSize: 8, streams: [{ name: 'cam', workload: { name: 'my-mlp', kind: INFER }, arrivalRatePerS: 5, latencyBudgetS: 30, candidateBatchSizes: [] }] });
    await applyPlan(c, { problem: own, plan: plan({ streams: [{ stream: 'cam', batchSize: 3, predictedLatencyS: 0, utilization: 0.05 }] }) });
    const app = await connectNatsBus({ url: nats.url });
    nats.defer(() => app.close());
    const x = Array.from({ length: 16 }, (_, i) => Math.sin(i));
    type Answer = { classIndex: number; score: number };
    const viaNats = async (requestId: string, input?: number[]): Promise<{ output: Answer; batchSize: number }> => {
      const r = await app.request(inferSubject(BOARD, 'cam'), { requestId, ...(input ? { input } : {}) }, { timeoutMs: 20_000 });
      assert.ok(!isErrorReply(r), JSON.stringify(r));
      return { output: r.output as Answer, batchSize: r.batchSize };
    };
    const viaGrpc = async (requestId: string, input?: number[]): Promise<{ output: Answer; batchSize: number }> => {
      const r = await inferCall(c, { stream: 'cam', requestId, ...(input ? { input: Buffer.from(JSON.stringify(input)), contentType: 'application/json' } : {}) });
      return { output: JSON.parse(r.output.toString('utf8')) as Answer, batchSize: r.batchSize };
    };
    const same = (a: Answer, b: Answer): void => {
      assert.equal(a.classIndex, b.classIndex);
      assert.ok(Math.abs(a.score - b.score) < 1e-5, `${a.score} vs ${b.score}`);
    };
    // NATS: x, no input, x.
    const [a, none, b] = await Promise.all([viaNats('a', x), viaNats('none'), viaNats('b', x)]);
    assert.deepEqual([a.batchSize, none.batchSize, b.batchSize], [3, 3, 3], 'one minibatch');
    assert.ok(none.output.classIndex >= 0 && none.output.score > 0, 'served on a generated sample');
    same(a.output, b.output);
    // gRPC without an input, beside NATS and gRPC with one: the two paths agree.
    const [g, n, gx] = await Promise.all([viaGrpc('g-none'), viaNats('n', x), viaGrpc('g-x', x)]);
    assert.deepEqual([g.batchSize, n.batchSize, gx.batchSize], [3, 3, 3], 'one minibatch');
    assert.ok(g.output.classIndex >= 0 && g.output.score > 0, 'served on a generated sample');
    same(n.output, gx.output);
  });
});

describe('a measurement is bounded: wall-clock limit, caller cancellation, shutdown (issue 14, 2)', () => {
  // Real time (scale 1): a resnet18 training minibatch is ~0.1–0.2 s, so 10,000 of them would hold
  // the GPU for about half an hour; each case below must end in a second or two.
  const huge = { workload: { name: 'resnet18', kind: TRAIN }, batchSize: 32, warmupMinibatches: 0, measuredMinibatches: 10_000 };
  const MODE = 'MAXN';

  it('stops at executor.maxMeasurementS with DEADLINE_EXCEEDED, and the running plan serves inference again at once', async () => {
    const svc = await executorService({ timeScale: 1, initialMode: MODE, executor: { maxMeasurementS: 0.5 } });
    const c = client(svc);
    await applyPlan(c, { problem: problem(), plan: plan() });
    const t0 = performance.now();
    const err = await grpcError(runMeasurement(c, huge, 30_000));
    const tookS = (performance.now() - t0) / 1000;
    assert.equal(err.code, status.DEADLINE_EXCEEDED, err.details);
    assert.match(err.details, /stopped after \d+ of 10000 minibatches: it ran past the executor's limit of 0\.5 s \(executor\.maxMeasurementS\)/);
    assert.ok(tookS < 2, `stopped after ${tookS.toFixed(2)} s`);
    assert.equal(svc.runner.measuring, false);
    const s = await getStatus(c);
    assert.equal(s.state, pb.State.STATE_RUNNING);
    const r = await inferCall(c, { stream: 'cam', requestId: 'after-limit', input: Buffer.from('[1]'), contentType: 'application/json' });
    assert.equal(r.requestId, 'after-limit');
  });

  it('stops when its client cancels or its deadline passes: the GPU is free within a second', async () => {
    const svc = await executorService({ timeScale: 1, initialMode: MODE, executor: { maxMeasurementS: 600 } });
    const c = client(svc);
    const err = await grpcError(runMeasurement(c, huge, 300));
    assert.equal(err.code, status.DEADLINE_EXCEEDED);
    await until('the measurement to stop after its caller left', () => !svc.runner.measuring, 1500);
    // A second measurement runs at once (nothing still holds the gate).
    const t0 = performance.now();
    const ok = await runMeasurement(c, { ...huge, measuredMinibatches: 2 });
    assert.equal(ok.minibatchTimesMs.length, 2);
    assert.ok(performance.now() - t0 < 3000);
  });

  it('stops on close: the call gets UNAVAILABLE and close finishes in bounded time', async () => {
    const svc = await executorService({ timeScale: 1, initialMode: MODE, executor: { maxMeasurementS: 600 } });
    const c = client(svc);
    const pending = grpcError(runMeasurement(c, huge, 60_000));
    await until('MEASURING', () => svc.runner.measuring);
    const t0 = performance.now();
    await svc.close(5000);
    const closeS = (performance.now() - t0) / 1000;
    const err = await pending;
    assert.ok([status.UNAVAILABLE, status.CANCELLED].includes(err.code), `${status[err.code]}: ${err.details}`);
    if (err.code === status.UNAVAILABLE) assert.match(err.details, /closing/);
    assert.ok(closeS < 3, `close took ${closeS.toFixed(2)} s`);
  });
});
