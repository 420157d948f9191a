// The four services as four processes (`fulcrum serve <name>`) on loopback, with a real
// nats-server (JetStream: events, and the profiles in JetStream KV) and a bearer token on every
// service: a remote client solves with GMD, sees the profile events on NATS and the plan applied
// by the executor; a second Solve profiles nothing; bad input gets the documented errors; the
// profiler killed mid-Solve gives UNAVAILABLE and a retry after its restart succeeds; a NATS
// restart loses no stored profile. Every process is killed in `after`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { connectNatsBus, inferSubject, isErrorReply, profileCompletedSubject, planAppliedSubject, type EventBus, type ProfileResult } from '@fulcrum/bus';
import { startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { runCli } from '@fulcrum/cli';
import { common, executor, optimizer, profiler } from '@fulcrum/proto';
import { clientSecurity, errorField, unaryCall } from '@fulcrum/runtime/internal';
import { killAllServices, serveProcess, type ServiceProcess } from '../support/serve-process.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKEN = 'e2e-token-0123456789';
/** The board id the controller and executor run as (subjects fulcrum.<board>.…); the device model stays orin-agx. */
const BOARD = 'e2e-board';
const NATS_PASS = { controller: 'pw-e2e-controller', executor: 'pw-e2e-executor', profiler: 'pw-e2e-profiler', optimizer: 'pw-e2e-optimizer', board: 'pw-e2e-board', client: 'pw-e2e-client' };
const NATS_ENV = Object.fromEntries(Object.entries(NATS_PASS).map(([role, pass]) => [`FULCRUM_NATS_${role.toUpperCase()}_PASS`, pass]));
const TRAIN = common.WorkloadKind.WORKLOAD_KIND_TRAIN;
const INFER = common.WorkloadKind.WORKLOAD_KIND_INFER;
const BATCHES = [1, 4, 16];
const PROBLEM = {
  device: 'orin-agx',
  trainWorkload: { name: 'resnet18', kind: TRAIN },
  trainBatchSize: 32,
  powerBudgetW: 30,
  streams: [{ name: 'cam', workload: { name: 'mobilenet', kind: INFER }, arrivalRatePerS: 10, latencyBudgetS: 0.5, candidateBatchSizes: BATCHES }],
};
/** The same problem for the CLI. */
const PROBLEM_FLAGS = ['--train', 'resnet18', '--train-batch', '32', '--stream', 'workload=mobilenet,rate=10,latency=0.5,name=cam', '--batch-sizes', BATCHES.join(','), '--power', '30'];
const RESULTS_PER_MODE = 1 + BATCHES.length;

// ---------------------------------------------------------------------------------------------
// Service processes: test/support/serve-process.ts

const serve = (name: string, args: readonly string[]): Promise<ServiceProcess> => serveProcess(name, args);

// ---------------------------------------------------------------------------------------------

/** `fulcrum …` in this process (a remote client of the services). */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

// ---------------------------------------------------------------------------------------------
// gRPC clients

const security = (token?: string) => clientSecurity({ token });

function solve(address: string, req: Parameters<typeof optimizer.SolveRequest.fromPartial>[0], options: { token?: string; onEvent?: (ev: optimizer.SolveResponse) => void } = {}): Promise<optimizer.SolveResponse[]> {
  const { credentials, options: clientOptions } = security(options.token);
  const client = new optimizer.OptimizerClient(address, credentials, clientOptions);
  return new Promise<optimizer.SolveResponse[]>((resolve, reject) => {
    const events: optimizer.SolveResponse[] = [];
    const call = client.solve(optimizer.SolveRequest.fromPartial(req), new grpc.Metadata(), { deadline: new Date(Date.now() + 60_000) });
    call.on('data', (ev: optimizer.SolveResponse) => {
      events.push(ev);
      options.onEvent?.(ev);
    });
    call.on('error', reject);
    call.on('end', () => resolve(events));
  }).finally(() => client.close());
}

const completedOf = (events: optimizer.SolveResponse[]): optimizer.SolveCompleted => {
  const last = events[events.length - 1]?.event;
  assert.equal(last?.$case, 'completed', 'the stream ends with SolveCompleted');
  return last.value;
};
const modeEvents = (events: optimizer.SolveResponse[]): optimizer.ModeProfiled[] =>
  events.flatMap((e) => (e.event?.$case === 'modeProfiled' ? [e.event.value] : []));

const invalid = (field: string) => (err: grpc.ServiceError) => {
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
  assert.equal(errorField(err), field, err.details);
  return true;
};

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------------------------------------

describe('the four services as processes over NATS', { timeout: 240_000 }, () => {
  let dir: string;
  let nats: NatsServer;
  /** The test as the optimizer's NATS user (events, replay) … */
  let bus: EventBus;
  /** … and as an application (user `client`: inference requests). */
  let app: EventBus;
  let controller: ServiceProcess;
  let exec: ServiceProcess;
  let prof: ServiceProcess;
  let opt: ServiceProcess;
  let profilerArgs: string[];
  const profileEvents: ProfileResult[] = [];
  const appliedPlans: string[] = [];
  let firstPlan: common.Plan;
  let storedAfterFirst = 0;

  const executorStatus = async (): Promise<executor.StatusResponse> => {
    const { credentials, options } = security(TOKEN);
    const client = new executor.ExecutorClient(exec.ready.address, credentials, options);
    try {
      return await unaryCall<executor.StatusResponse>((o, cb) => client.status(executor.StatusRequest.fromPartial({}), new grpc.Metadata(), o, cb), 5000);
    } finally {
      client.close();
    }
  };
  const storedProfiles = async (): Promise<number> => {
    const { credentials, options } = security(TOKEN);
    const client = new profiler.ProfilerClient(prof.ready.address, credentials, options);
    try {
      let n = 0;
      let pageToken = '';
      do {
        const page = await unaryCall<profiler.GetProfilesResponse>((o, cb) => client.getProfiles(profiler.GetProfilesRequest.fromPartial({ device: 'orin-agx', pageSize: 1000, pageToken }), new grpc.Metadata(), o, cb), 10_000);
        n += page.results.length;
        pageToken = page.nextPageToken;
      } while (pageToken);
      return n;
    } finally {
      client.close();
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-e2e-'));
    // deploy/nats/nats-server.conf: one user per service, each held to its own subjects.
    nats = await startNatsServer({ storeDir: join(dir, 'nats'), args: ['-c', join(root, 'deploy', 'nats', 'nats-server.conf')], env: NATS_ENV });
    bus = await connectNatsBus({ url: nats.url, user: 'optimizer', pass: NATS_PASS.optimizer });
    app = await connectNatsBus({ url: nats.url, user: 'client', pass: NATS_PASS.client });
    const profiles = bus.subscribe(profileCompletedSubject(BOARD), (m) => void profileEvents.push(m.event));
    const plans = bus.subscribe(planAppliedSubject(BOARD), (m) => void appliedPlans.push(m.event.planId));
    await Promise.all([profiles.ready, plans.ready]);

    const common = ['--nats', nats.url, `--grpc.token=${TOKEN}`, '--metrics.port=0'];
    const natsUser = (role: keyof typeof NATS_PASS) => [`--nats.user=${role}`, `--nats.pass=${NATS_PASS[role]}`];
    const retry = (...peers: string[]) => peers.flatMap((p) => [`--${p}.attempts=3`, `--${p}.initial-backoff-ms=50`, `--${p}.max-backoff-ms=200`]);
    controller = await serve('device-controller', [...common, ...natsUser('controller'), `--board=${BOARD}`, '--grpc.port=0', '--telemetry.min-interval-ms=1']);
    exec = await serve('executor', [...common, ...natsUser('executor'), `--board=${BOARD}`, '--grpc.port=0', '--time-scale=20', `--controller.address=${controller.ready.address}`, `--controller.token=${TOKEN}`]);
    profilerArgs = [
      ...common,
      ...natsUser('profiler'),
      '--store',
      'kv',
      `--controller.address=${controller.ready.address}`,
      `--controller.token=${TOKEN}`,
      `--executor.address=${exec.ready.address}`,
      `--executor.token=${TOKEN}`,
      '--protocol.settle-s=0.05',
      '--protocol.warmup-minibatches=1',
      '--protocol.measured-minibatches=4',
      '--protocol.telemetry-interval-ms=2',
      ...retry('controller', 'executor'),
    ];
    prof = await serve('profiler', [...profilerArgs, '--grpc.port=0']);
    // Restarts keep the port the optimizer knows.
    profilerArgs.push(`--grpc.port=${prof.ready.address.split(':').pop()}`);
    opt = await serve('optimizer', [
      ...common,
      ...natsUser('optimizer'),
      '--grpc.port=0',
      `--profiler.address=${prof.ready.address}`,
      `--profiler.token=${TOKEN}`,
      `--executor.address=${exec.ready.address}`,
      `--executor.token=${TOKEN}`,
      '--executor.apply',
      ...retry('profiler', 'executor'),
    ]);
  });

  after(async () => {
    for (const p of [opt, prof, exec, controller]) {
      if (!p) continue;
      const code = await p.stop();
      if (code !== 0 && code !== null) process.stderr.write(`fulcrum serve ${p.name} exited ${code}:\n${p.log()}\n`);
    }
    killAllServices();
    await bus?.close();
    await app?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each service answers /healthz and reports NATS', async () => {
    for (const p of [controller, exec, prof, opt]) {
      assert.equal(p.ready.pid, p.child.pid);
      const res = await fetch(`${p.ready.metricsUrl}/healthz`);
      assert.equal(res.status, 200, p.name);
    }
  });

  it('a remote client solves with GMD: profile events on NATS, the plan applied by the executor', async () => {
    const events = await solve(opt.ready.address, { problem: PROBLEM, strategy: optimizer.Strategy.STRATEGY_GMD }, { token: TOKEN });
    // One event per mode looked at, and one per re-measure of a mode (a fresh window, SPEC §4).
    const all = modeEvents(events);
    const modes = all.filter((m) => !m.remeasured);
    const remeasures = all.length - modes.length;
    const done = completedOf(events);
    assert.ok(modes.length >= 3 && modes.length <= 15, `GMD profiled ${modes.length} modes`);
    assert.ok(remeasures <= 3, `${remeasures} re-measures`);
    assert.ok(all.every((m) => !m.reused && m.results.length === RESULTS_PER_MODE));
    assert.ok(all.filter((m) => m.remeasured).every((m) => modes.some((n) => JSON.stringify(n.mode) === JSON.stringify(m.mode))), 'a re-measured mode was profiled first');
    const plan = done.plan!;
    assert.equal(plan.feasible, true, JSON.stringify(plan));
    assert.ok(plan.predictedPowerW <= 30);
    assert.equal(done.cost?.modesProfiled, modes.length);
    assert.equal(done.cost?.remeasures, remeasures);
    // A re-measure publishes each result again, combined with the earlier window.
    await until('every profile.completed event on NATS', () => profileEvents.length >= all.length * RESULTS_PER_MODE);
    assert.equal(profileEvents.length, all.length * RESULTS_PER_MODE, 'one event per measured (mode, workload, batch size) and window');
    assert.ok(profileEvents.every((e) => e.device === 'orin-agx' && e.timeMs > 0 && e.powerW > 0));
    await until('plan.applied on NATS', () => appliedPlans.includes(plan.planId));
    const status = await executorStatus();
    assert.equal(status.plan?.planId, plan.planId);
    assert.deepEqual(status.plan?.mode, plan.mode);
    assert.ok([executor.State.STATE_RUNNING, executor.State.STATE_MEASURING].includes(status.state), `executor state ${status.state}`);
    firstPlan = plan;
    storedAfterFirst = await storedProfiles();
    assert.equal(storedAfterFirst, modes.length * RESULTS_PER_MODE, 'every measured result is in the KV store, one entry per key whatever its windows');
  });

  it('a second Solve of the same problem (fulcrum solve --remote) profiles nothing new', async () => {
    const eventsBefore = profileEvents.length;
    const r = await cli('solve', '--remote', opt.ready.address, '--token', TOKEN, ...PROBLEM_FLAGS, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.cost.modesProfiled, 0);
    assert.ok(out.cost.modesReused >= 3);
    // Solved before: answered among the modes the first Solve looked at, re-measures and all, with
    // no new window (the first Solve's re-measures moved the figures GMD would walk again).
    assert.equal(out.cost.remeasures, 0);
    const m = firstPlan!.mode!;
    assert.equal(out.plan.mode, `${m.cores},${m.cpuMhz},${m.gpuMhz},${m.emcMhz}`, "the first Solve's plan holds");
    await sleep(200);
    assert.equal(profileEvents.length, eventsBefore, 'no new profile.completed');
    assert.equal(await storedProfiles(), storedAfterFirst);
  });

  it('bad input gets the documented errors', async () => {
    // Off-grid mode: the profiler refuses it before touching the board.
    const { credentials, options } = security(TOKEN);
    const pc = new profiler.ProfilerClient(prof.ready.address, credentials, options);
    const profile = (mode: common.PowerMode) =>
      unaryCall<profiler.ProfileResponse>((o, cb) => pc.profile(profiler.ProfileRequest.fromPartial({ device: 'orin-agx', mode, workloads: [{ workload: { name: 'resnet18', kind: TRAIN }, batchSizes: [32] }] }), new grpc.Metadata(), o, cb));
    await assert.rejects(profile({ cores: 12, cpuMhz: 2201.6, gpuMhz: 1000, emcMhz: 3199 }), invalid('mode.gpuMhz'));
    pc.close();
    // Negative budget, unknown workload: the optimizer names the field.
    await assert.rejects(solve(opt.ready.address, { problem: { ...PROBLEM, powerBudgetW: -5 } }, { token: TOKEN }), invalid('problem.powerBudgetW'));
    await assert.rejects(solve(opt.ready.address, { problem: { ...PROBLEM, trainWorkload: { name: 'alexnet', kind: TRAIN } } }, { token: TOKEN }), invalid('problem.trainWorkload.name'));
    // The CLI says the same with exit 2.
    const cliBad = await cli('solve', '--remote', opt.ready.address, '--token', TOKEN, '--train', 'resnet18', '--infer', 'mobilenet', '--rate', '10', '--latency', '0.5', '--power', '-5');
    assert.equal(cliBad.code, 2);
    // Garbage on the NATS infer subject: an explicit `invalid` reply, and the executor keeps serving.
    const reply = JSON.parse(Buffer.from(await app.requestRaw(`fulcrum.${BOARD}.infer.cam`, 'this is not JSON {', { timeoutMs: 5000 })).toString('utf8'));
    assert.equal(reply.error?.code, 'invalid', JSON.stringify(reply));
    const ok = await app.request(inferSubject(BOARD, 'cam'), { requestId: 'after-garbage' }, { timeoutMs: 10_000 });
    assert.equal(ok.requestId, 'after-garbage');
    assert.ok(!isErrorReply(ok), JSON.stringify(ok));
    // Missing token: UNAUTHENTICATED.
    await assert.rejects(solve(opt.ready.address, { problem: PROBLEM }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
  });

  it('the profiler killed mid-Solve gives UNAVAILABLE; after its restart a retry succeeds, keeping what was measured', async () => {
    const problem = { ...PROBLEM, trainWorkload: { name: 'mobilenet', kind: TRAIN }, powerBudgetW: 25 };
    let killed: Promise<void> | undefined;
    await assert.rejects(
      solve(opt.ready.address, { problem }, {
        token: TOKEN,
        onEvent: (ev) => {
          if (ev.event?.$case === 'modeProfiled' && !killed) killed = prof.kill();
        },
      }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
        assert.match(err.details, /profiler/);
        return true;
      },
    );
    await killed;
    const eventsBefore = profileEvents.length;
    prof = await serve('profiler', profilerArgs);
    const r = await cli('solve', '--remote', opt.ready.address, '--token', TOKEN, '--train', 'mobilenet', '--train-batch', '32', '--stream', 'workload=mobilenet,rate=10,latency=0.5,name=cam', '--batch-sizes', BATCHES.join(','), '--power', '25', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.plan.feasible, true);
    assert.ok(out.cost.modesReused >= 1, 'the mode measured before the kill is not measured again');
    // What the killed profiler measured is stored (KV) and reused; only what is missing is measured now.
    if (out.cost.modesProfiled > 0) await until('the new profile events', () => profileEvents.length > eventsBefore);
  });

  it('a NATS restart loses no stored profile: the store and the replayable events survive', async () => {
    const stored = await storedProfiles();
    assert.ok(stored >= storedAfterFirst);
    await nats.restart();
    // The services reconnect on their own; the CLI's bounded retries cover the gap.
    const r = await cli('solve', '--remote', opt.ready.address, '--token', TOKEN, ...PROBLEM_FLAGS, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).cost.modesProfiled, 0);
    await until('the profiler store back', async () => (await storedProfiles().catch(() => -1)) === stored);
    // A Profile of a stored key is answered from the KV store: nothing measured.
    const { credentials, options } = security(TOKEN);
    const pc = new profiler.ProfilerClient(prof.ready.address, credentials, options);
    const again = await unaryCall<profiler.ProfileResponse>((o, cb) =>
      pc.profile(profiler.ProfileRequest.fromPartial({ device: 'orin-agx', mode: firstPlan.mode, workloads: [{ workload: { name: 'resnet18', kind: TRAIN }, batchSizes: [32] }] }), new grpc.Metadata(), o, cb),
    );
    pc.close();
    assert.deepEqual({ profiled: again.cost?.modesProfiled, reused: again.cost?.modesReused }, { profiled: 0, reused: 1 });
    // This test's own client reconnects on its own schedule (the CLI's fresh connection may be quicker).
    await until("the test's bus reconnected", () => bus.status() === 'connected');
    // Every stored key's events are still in the stream (a re-measured key has one per window).
    const keys = new Set<string>();
    let replayed = 0;
    const replay = bus.replayProfiles(BOARD, (e) => {
      replayed++;
      keys.add(JSON.stringify([e.event.workload, e.event.kind, e.event.batchSize, e.event.mode]));
    });
    await replay.closed;
    assert.equal(keys.size, stored, 'every stored profile is still in the JetStream stream');
    assert.ok(replayed >= stored);
  });

  it('SIGTERM stops every service gracefully (exit 0), the device-controller last — the executor within 5 s even in a 10,000-minibatch measurement (issue 14, 2)', async () => {
    // A measurement that would hold the GPU for ~2 minutes at time scale 20.
    const { credentials, options } = security(TOKEN);
    const client = new executor.ExecutorClient(exec.ready.address, credentials, options);
    const req = executor.RunMeasurementRequest.fromPartial({ workload: { name: 'resnet18', kind: TRAIN }, batchSize: 32, warmupMinibatches: 0, measuredMinibatches: 10_000 });
    const measuring = unaryCall<executor.RunMeasurementResponse>((o, cb) => client.runMeasurement(req, new grpc.Metadata(), o, cb), 300_000).then(
      () => assert.fail('the measurement should have been stopped'),
      (err: grpc.ServiceError) => err,
    );
    await until('the executor to measure', async () => (await executorStatus()).state === executor.State.STATE_MEASURING);
    for (const p of [opt, prof, exec, controller]) assert.equal(await p.stop(), 0, `fulcrum serve ${p.name}:\n${p.log()}`);
    const err = await measuring;
    client.close();
    assert.ok([grpc.status.UNAVAILABLE, grpc.status.CANCELLED].includes(err.code), `${grpc.status[err.code]}: ${err.details}`);
  });
});
