import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { pino } from 'pino';
import { common, profiler } from '@fulcrum/proto';
import { clientSecurity, errorField, unaryCall } from '@fulcrum/runtime/internal';
import { InProcessHub, connectNatsBus, eventFilter, type EventBus } from '@fulcrum/bus/internal';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { createVirtualDevice } from '@fulcrum/devices';
import { startProfilerService, type RunningProfilerService } from './service.js';
import { MAX_PROFILE_WINDOWS } from './profiler.js';
import type { ProfilerConfigInput } from './config.js';
import { startBoardServices, startVirtualPeers, type BoardServices, type VirtualPeers } from './testing/index.js';

const logger = pino({ level: 'silent' });
const MAXN = { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 };
const MODE_30W = { cores: 8, cpuMhz: 1728, gpuMhz: 624.75, emcMhz: 3199 };
const TRAIN = common.WorkloadKind.WORKLOAD_KIND_TRAIN;
const INFER = common.WorkloadKind.WORKLOAD_KIND_INFER;

/** Fast protocol for tests: a short settle, 1 warm-up and 4 measured minibatches, 2 ms telemetry. */
function testConfig(peers: { controllerAddress: string; executorAddress: string }, dir: string, extra: ProfilerConfigInput = {}): ProfilerConfigInput {
  return {
    grpc: { port: 0 },
    metrics: { port: 0 },
    store: { path: join(dir, 'profiles.db') },
    controller: { address: peers.controllerAddress, attempts: 3, initialBackoffMs: 50, maxBackoffMs: 200 },
    executor: { address: peers.executorAddress, attempts: 3, initialBackoffMs: 50, maxBackoffMs: 200 },
    protocol: { settleS: 0.05, warmupMinibatches: 1, measuredMinibatches: 4, telemetryIntervalMs: 2, minPowerSamples: 3, measureAttempts: 3 },
    ...extra,
  };
}

function client(address: string, token?: string): profiler.ProfilerClient {
  const { credentials, options } = clientSecurity({ token });
  return new profiler.ProfilerClient(address, credentials, options);
}

const profile = (c: profiler.ProfilerClient, req: Parameters<typeof profiler.ProfileRequest.fromPartial>[0]) =>
  unaryCall<profiler.ProfileResponse>((o, cb) => c.profile(profiler.ProfileRequest.fromPartial(req), new grpc.Metadata(), o, cb), 20_000);
const getProfiles = (c: profiler.ProfilerClient, req: Parameters<typeof profiler.GetProfilesRequest.fromPartial>[0]) =>
  unaryCall<profiler.GetProfilesResponse>((o, cb) => c.getProfiles(profiler.GetProfilesRequest.fromPartial(req), new grpc.Metadata(), o, cb));

const REQUEST = {
  mode: MODE_30W,
  workloads: [
    { workload: { name: 'resnet18', kind: TRAIN }, batchSizes: [32] },
    { workload: { name: 'mobilenet', kind: INFER }, batchSizes: [1, 4] },
  ],
};

const invalid = (field: string) => (err: grpc.ServiceError) => {
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
  assert.equal(errorField(err), field, err.details);
  return true;
};

const truth = createVirtualDevice('orin-agx', { noise: 0 });

describe('profiler service over the real device-controller and executor (in-process bus, SQLite store)', () => {
  let dir: string;
  let board: BoardServices;
  let bus: EventBus;
  let svc: RunningProfilerService;
  let c: profiler.ProfilerClient;
  const events: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-profiler-'));
    bus = new InProcessHub().connect();
    board = await startBoardServices({ bus, timeScale: 20 });
    bus.subscribe(eventFilter('profile.completed'), (m) => void events.push(`${m.event.device}:${m.event.workload}:${m.event.kind}:b${m.event.batchSize}`));
    svc = await startProfilerService(testConfig(board, dir), { logger, bus });
    c = client(svc.address);
  });
  after(async () => {
    c.close();
    await svc.close(100);
    await board.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('profiles one mode: one switch, one measurement per (workload, batch), results stored and published, cost reported', async () => {
    const res = await profile(c, REQUEST);
    assert.equal(res.results.length, 3);
    assert.deepEqual(
      res.results.map((r) => [r.workload, r.kind, r.batchSize]),
      [
        ['resnet18', TRAIN, 32],
        ['mobilenet', INFER, 1],
        ['mobilenet', INFER, 4],
      ],
    );
    for (const r of res.results) {
      assert.equal(r.device, 'orin-agx');
      assert.match(r.softwareStack, /^fulcrum-virtual-orin-agx/, 'the controller reports the stack');
      assert.deepEqual(r.mode, MODE_30W);
      assert.equal(r.samples, 4);
      const t = truth.groundTruth({ mode: MODE_30W, workload: r.workload, kind: r.kind === TRAIN ? 'train' : 'infer', batchSize: r.batchSize });
      assert.ok(Math.abs(r.timeMs / t.timeMs - 1) < 0.1, `${r.workload} b${r.batchSize}: ${r.timeMs} ms, model ${t.timeMs} ms`);
      assert.ok(Math.abs(r.powerW / t.powerW - 1) < 0.1, `${r.workload} b${r.batchSize}: ${r.powerW} W over the window, model ${t.powerW} W`);
    }
    assert.equal(res.cost?.modesProfiled, 1);
    assert.equal(res.cost?.modesReused, 0);
    // Settle (0.05 s; a timer may fire a little early) + the switch + 1 warm-up and 4 measured minibatches of each item.
    const minibatchS = res.results.reduce((a, r) => a + (5 * r.timeMs) / 1000, 0);
    assert.ok(res.cost!.profilingSeconds >= 0.045 + minibatchS && res.cost!.profilingSeconds < 2 + minibatchS, `cost ${res.cost!.profilingSeconds} s`);
    assert.deepEqual(await board.counts(), { switches: 1, measurements: 3 });
    assert.equal((await svc.store.query({ device: 'orin-agx' })).length, 3);
    for (let i = 0; i < 50 && events.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(events.sort(), ['orin-agx:mobilenet:infer:b1', 'orin-agx:mobilenet:infer:b4', 'orin-agx:resnet18:train:b32']);
    const replayed: number[] = [];
    for await (const m of bus.replayProfiles('test-board')) replayed.push(m.event.batchSize);
    assert.equal(replayed.length, 3, 'profile.completed is durable: a replay finds every result');
  });

  it('answers a repeated request from the store: no switch, no measurement, cost 0', async () => {
    const before = await board.counts();
    const first = (await getProfiles(c, { device: 'orin-agx' })).results;
    const res = await profile(c, REQUEST);
    assert.deepEqual(await board.counts(), before);
    assert.deepEqual(res.cost, { modesProfiled: 0, modesReused: 1, remeasures: 0, profilingSeconds: 0, optimizerMs: 0 });
    assert.deepEqual(
      res.results.map((r) => r.timeMs),
      [32, 1, 4].map((b) => first.find((f) => f.batchSize === b)!.timeMs),
    );
    // One new batch size: only that one is measured.
    const more = await profile(c, { ...REQUEST, workloads: [{ workload: { name: 'mobilenet', kind: INFER }, batchSizes: [4, 8] }] });
    assert.deepEqual(await board.counts(), { switches: before.switches + 1, measurements: before.measurements + 1 });
    assert.equal(more.cost?.modesProfiled, 1);
    const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
    assert.match(metrics, /fulcrum_profiler_results_measured_total\{kind="infer",service="profiler"\} 3/);
    assert.match(metrics, /fulcrum_profiler_results_reused_total\{kind="infer",service="profiler"\} 3/);
    assert.match(metrics, /fulcrum_profiler_profiling_seconds_total\{service="profiler"\} [0-9.]+/);
  });

  it('serves gRPC health for the Profiler service and /healthz', async () => {
    const Health = grpc.makeClientConstructor(healthService, 'Health');
    const h = new Health(svc.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      h['check']!({ service: 'fulcrum.profiler.v1.Profiler' }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r))),
    );
    assert.equal(res.status, 'SERVING');
    h.close();
    assert.equal((await fetch(`${svc.metricsUrl}/healthz`)).status, 200);
  });

  it('GetProfiles filters and pages through the store', async () => {
    const all = await getProfiles(c, {});
    assert.equal(all.results.length, 4);
    assert.equal(all.nextPageToken, '');
    const infer = await getProfiles(c, { kind: INFER, workload: 'mobilenet', batchSize: 4 });
    assert.deepEqual(infer.results.map((r) => r.batchSize), [4]);
    assert.equal((await getProfiles(c, { mode: MAXN })).results.length, 0);
    const seen: number[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await getProfiles(c, { pageSize: 3, pageToken: token });
      seen.push(...page.results.map((r) => r.batchSize));
      token = page.nextPageToken;
      pages++;
    } while (token);
    assert.equal(pages, 2);
    assert.deepEqual(seen, all.results.map((r) => r.batchSize));
    await assert.rejects(getProfiles(c, { pageToken: 'garbage' }), invalid('pageToken'));
    await assert.rejects(getProfiles(c, { mode: { ...MAXN, cores: 0 } }), invalid('mode.cores'));
  });

  it('rejects bad input with INVALID_ARGUMENT naming the field, before touching the board', async () => {
    const before = await board.counts();
    const w = REQUEST.workloads;
    await assert.rejects(profile(c, { ...REQUEST, mode: { ...MODE_30W, gpuMhz: 1000 } }), invalid('mode.gpuMhz'));
    await assert.rejects(profile(c, { ...REQUEST, mode: undefined }), invalid('mode'));
    await assert.rejects(profile(c, { ...REQUEST, workloads: [{ workload: { name: 'alexnet', kind: TRAIN }, batchSizes: [8] }] }), invalid('workloads[0].workload.name'));
    await assert.rejects(profile(c, { ...REQUEST, workloads: [{ workload: { name: 'resnet18' }, batchSizes: [8] }] }), invalid('workloads[0].workload.kind'));
    await assert.rejects(profile(c, { ...REQUEST, workloads: [w[0]!, { workload: w[1]!.workload, batchSizes: [] }] }), invalid('workloads[1].batchSizes'));
    await assert.rejects(profile(c, { ...REQUEST, workloads: [{ workload: w[1]!.workload, batchSizes: [4, 0] }] }), invalid('workloads[0].batchSizes[1]'));
    await assert.rejects(profile(c, { ...REQUEST, workloads: [] }), invalid('workloads'));
    await assert.rejects(profile(c, { ...REQUEST, settleS: -1 }), invalid('settleS'));
    // A negative count sent as uint32 arrives as 2^32 − 1.
    await assert.rejects(profile(c, { ...REQUEST, measuredMinibatches: 2 ** 32 - 1 }), invalid('measuredMinibatches'));
    await assert.rejects(profile(c, { ...REQUEST, device: 'agx-xavier' }), invalid('device'));
    await assert.rejects(profile(c, { ...REQUEST, device: 'no.dots' }), invalid('device'));
    assert.deepEqual(await board.counts(), before);
  });

  it('answers UNAVAILABLE after bounded retries while the controller is gone, and succeeds once it is back', async () => {
    const request = { ...REQUEST, mode: MAXN };
    await board.stopController();
    const t0 = Date.now();
    await assert.rejects(profile(c, request), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
      assert.match(err.details, /device-controller at 127\.0\.0\.1:\d+ is unavailable/);
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000, 'no hang');
    await board.restartController();
    const res = await profile(c, request);
    assert.equal(res.results.length, 3);
    assert.equal(res.cost?.modesProfiled, 1);
    const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
    assert.match(metrics, /fulcrum_profiler_peer_retries_total\{peer="device-controller",service="profiler"\} [1-9]/);
  });
});

describe('re-measurement (issue 16): a fresh window of a stored mode, combined into the store, at most MAX_PROFILE_WINDOWS per key', () => {
  let dir: string;
  let peers: VirtualPeers;
  let bus: EventBus;
  let svc: RunningProfilerService;
  let c: profiler.ProfilerClient;
  const events: { batchSize: number; windows: number | undefined; samples: number }[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-profiler-'));
    bus = new InProcessHub().connect();
    bus.subscribe(eventFilter('profile.completed'), (m) => void events.push({ batchSize: m.event.batchSize, windows: m.event.windows, samples: m.event.samples }));
    peers = await startVirtualPeers({ noise: 0.05, seed: 3 });
    svc = await startProfilerService(testConfig({ controllerAddress: peers.address, executorAddress: peers.address }, dir), { logger, bus });
    c = client(svc.address);
  });
  after(async () => {
    c.close();
    await svc.close(100);
    await peers.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const stored = async () => (await getProfiles(c, { mode: MODE_30W })).results.sort((a, b) => a.kind - b.kind || a.batchSize - b.batchSize);
  const settled = async (n: number) => {
    for (let i = 0; i < 100 && events.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('remeasure on a mode not stored yet is a plain Profile: measured once, remeasures 0', async () => {
    const res = await profile(c, { ...REQUEST, remeasure: true });
    assert.deepEqual([res.cost?.modesProfiled, res.cost?.remeasures], [1, 0]);
    assert.equal(peers.calls.runMeasurement, 3);
    for (const r of await stored()) assert.deepEqual([r.samples, r.windows], [4, undefined]);
  });

  it('remeasure measures every item again with the longer window (4 × n), answers that window, and stores the samples-weighted combination', async () => {
    const first = await stored();
    const calls = peers.calls.runMeasurement;
    const res = await profile(c, { ...REQUEST, remeasure: true });
    assert.equal(peers.calls.runMeasurement, calls + 3, 'one fresh window per item');
    assert.equal(res.cost?.modesProfiled, 0);
    assert.equal(res.cost?.modesReused, 0);
    assert.equal(res.cost?.remeasures, 1);
    assert.ok(res.cost!.profilingSeconds > 0, 'a re-measure costs its profiling seconds');
    const after = await stored();
    for (const fresh of res.results) {
      const before = first.find((r) => r.kind === fresh.kind && r.batchSize === fresh.batchSize)!;
      const now = after.find((r) => r.kind === fresh.kind && r.batchSize === fresh.batchSize)!;
      assert.equal(fresh.samples, 16, 'the answer is the fresh window, of 4 × n minibatches');
      assert.equal(fresh.windows, undefined);
      assert.notEqual(fresh.timeMs, before.timeMs, 'a fresh window draws fresh noise');
      assert.deepEqual([now.samples, now.windows], [20, 2]);
      assert.ok(Math.abs(now.windowWeightsSquared! - (0.2 ** 2 + 0.8 ** 2)) < 1e-12, `Σwᵢ² of a window of 4 and one of 16: ${now.windowWeightsSquared}`);
      assert.ok(Math.abs(now.timeMs - (4 * before.timeMs + 16 * fresh.timeMs) / 20) < 1e-9, 'the samples-weighted mean');
      assert.ok(Math.abs(now.powerW - (4 * before.powerW + 16 * fresh.powerW) / 20) < 1e-9);
      assert.ok(Math.abs(now.timeSeMs! - Math.hypot(4 * before.timeSeMs!, 16 * fresh.timeSeMs!) / 20) < 1e-9, 'the standard error of the mean');
    }
    // A later plain Profile answers the combined, surer result.
    const plain = await profile(c, REQUEST);
    assert.deepEqual([plain.cost?.modesReused, plain.cost?.remeasures], [1, 0]);
    assert.deepEqual(plain.results.map((r) => [r.samples, r.windows]), [[20, 2], [20, 2], [20, 2]]);
    await settled(6);
    assert.deepEqual(events.slice(3).map((e) => [e.windows, e.samples]), [[2, 20], [2, 20], [2, 20]], 'profile.completed says it is a combination of 2 windows');
  });

  it(`stops at ${MAX_PROFILE_WINDOWS} windows per key: a further remeasure is answered from the store`, async () => {
    for (let w = 3; w <= MAX_PROFILE_WINDOWS; w++) assert.equal((await profile(c, { ...REQUEST, remeasure: true })).cost?.remeasures, 1, `window ${w}`);
    const calls = peers.calls.runMeasurement;
    const res = await profile(c, { ...REQUEST, remeasure: true });
    assert.deepEqual([res.cost?.modesProfiled, res.cost?.modesReused, res.cost?.remeasures, res.cost?.profilingSeconds], [0, 1, 0, 0]);
    assert.equal(peers.calls.runMeasurement, calls, 'nothing measured past the limit');
    // The first window's 4 samples and the re-measures' 16 each.
    const total = 4 + 16 * (MAX_PROFILE_WINDOWS - 1);
    assert.deepEqual(res.results.map((r) => [r.samples, r.windows]), [[total, 8], [total, 8], [total, 8]]);
    for (const r of await stored()) assert.deepEqual([r.samples, r.windows], [total, MAX_PROFILE_WINDOWS]);
    // One item at the limit holds the whole mode: a request adding a new batch size measures only that one.
    const more = await profile(c, { ...REQUEST, workloads: [...REQUEST.workloads, { workload: { name: 'mobilenet', kind: INFER }, batchSizes: [8] }], remeasure: true });
    assert.deepEqual([more.cost?.modesProfiled, more.cost?.remeasures], [1, 0]);
    assert.equal(peers.calls.runMeasurement, calls + 1);
    const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`fulcrum_profiler_remeasures_total\\{service="profiler"\\} ${MAX_PROFILE_WINDOWS - 1}\\b`));
  });
});

/** A profiler service on virtual peers in a temporary folder (`protocol` over testConfig's), and how to stop it all. */
async function startOnPeers(peerOptions?: Parameters<typeof startVirtualPeers>[0], protocol: Partial<NonNullable<ProfilerConfigInput['protocol']>> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-profiler-'));
  const peers = await startVirtualPeers(peerOptions);
  const base = testConfig({ controllerAddress: peers.address, executorAddress: peers.address }, dir);
  const svc = await startProfilerService({ ...base, protocol: { ...base.protocol!, ...protocol } }, { logger });
  const c = client(svc.address);
  return {
    peers,
    svc,
    c,
    async stop(): Promise<void> {
      c.close();
      await svc.close(100);
      await peers.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('a re-measure of a slow item is cut to protocol.remeasureWindowS (never below a first window)', () => {
  let run: Awaited<ReturnType<typeof startOnPeers>>;
  // resnet18's training minibatch at this mode takes well over 50 ms: 0.6 s leaves room for a
  // few of them, less than 4 × n; mobilenet's batch-1 minibatch fits the whole 4 × n.
  before(async () => (run = await startOnPeers({ noise: 0.05, seed: 4 }, { remeasureWindowS: 0.6 })));
  after(() => run.stop());

  it('each item gets the longest window that fits, between n and 4 × n', async () => {
    const c = run.c;
    const first = await profile(c, REQUEST);
    const again = await profile(c, { ...REQUEST, remeasure: true });
    assert.equal(again.cost?.remeasures, 1);
    for (const r of again.results) {
      const stored = first.results.find((f) => f.kind === r.kind && f.batchSize === r.batchSize)!;
      const fit = Math.floor(0.6 / (stored.timeMs / 1000)) - 1;
      assert.equal(r.samples, Math.max(4, Math.min(16, fit)), `${r.workload} b${r.batchSize}: ${stored.timeMs} ms a minibatch`);
    }
    assert.ok(again.results.some((r) => r.samples < 16), 'some item was cut');
  });
});

describe('profiler service against a test double of its peers', () => {
  let peers: VirtualPeers;
  let svc: RunningProfilerService;
  let c: profiler.ProfilerClient;
  let stop: () => Promise<void>;
  before(async () => ({ peers, svc, c, stop } = await startOnPeers()));
  after(() => stop());

  // The double can move the knobs in the middle of a measured window; the real controller cannot be made to.
  it('re-switches and re-measures when the knobs move under a measurement', async () => {
    peers.beforeNextWindow(() => peers.forceMode(MAXN));
    const res = await profile(c, { mode: MODE_30W, workloads: [{ workload: { name: 'resnet50', kind: INFER }, batchSizes: [2] }] });
    assert.equal(res.cost?.modesProfiled, 1);
    assert.equal(peers.calls.setPowerMode, 2);
    assert.equal(peers.calls.runMeasurement, 2);
    assert.deepEqual(peers.mode, MODE_30W);
    assert.deepEqual(res.results[0]!.mode, MODE_30W);
  });
});

describe('profiler service with bearer tokens, on NATS (JetStream events, KV store)', () => {
  let nats: NatsServer;
  let board: BoardServices;
  let svc: RunningProfilerService;
  const TOKEN = 'profiler-secret-1';
  const PEER_TOKEN = 'peer-secret-123';
  before(async () => {
    nats = await startNatsServer();
    board = await startBoardServices({ natsUrl: nats.url, token: PEER_TOKEN, timeScale: 20 });
    svc = await startProfilerService(
      testConfig(board, '/nonexistent', {
        grpc: { port: 0, token: TOKEN },
        nats: { url: nats.url },
        store: { backend: 'kv' },
        controller: { address: board.controllerAddress, token: PEER_TOKEN },
        executor: { address: board.executorAddress, token: PEER_TOKEN },
        softwareStack: 'jetpack-6.2+torch-2.5',
      }),
      { logger },
    );
  });
  after(async () => {
    await svc.close(100);
    await board.close();
    await nats.stop();
  });

  it('refuses a call without the token, stores in JetStream KV and publishes on JetStream', async () => {
    const anonymous = client(svc.address);
    await assert.rejects(profile(anonymous, REQUEST), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
    anonymous.close();
    const c = client(svc.address, TOKEN);
    const res = await profile(c, REQUEST);
    assert.equal(res.results[0]!.softwareStack, 'jetpack-6.2+torch-2.5');
    assert.equal(svc.store.backend, 'kv');
    // Another process sees the stored results on the stream and in the KV bucket.
    const other = await connectNatsBus({ url: nats.url });
    const replayed: string[] = [];
    for await (const m of other.replayProfiles('test-board')) replayed.push(`${m.event.workload}@${m.event.batchSize}`);
    assert.deepEqual(replayed.sort(), ['mobilenet@1', 'mobilenet@4', 'resnet18@32']);
    await other.close();
    const again = await profile(c, REQUEST);
    assert.equal(again.cost?.modesProfiled, 0);
    c.close();
  });
});
