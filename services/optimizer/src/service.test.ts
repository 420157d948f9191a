import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { pino } from 'pino';
import { common, optimizer } from '@fulcrum/proto';
import { clientSecurity, errorField, unaryCall } from '@fulcrum/runtime/internal';
import { InProcessHub, arrivalsRateSubject, boardAnnounceSubject, eventFilter, planAppliedSubject, type EventBus } from '@fulcrum/bus/internal';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProfilerService, type ProfilerConfigInput, type RunningProfilerService } from '@fulcrum/profiler';
import { startBoardServices, type BoardServices } from '@fulcrum/profiler/testing';
import { writeTinyWorkload } from '@fulcrum/workloads/testing';
import { getDevice, validateProblem } from '@fulcrum/core';
import { problemFromProto } from '@fulcrum/proto';
import { MAX_PROFILE_WINDOWS } from '@fulcrum/profiler';
import { ModeSpace } from '@fulcrum/strategies';
import { tableKeyOf } from '@fulcrum/strategies/internal';
import { startOptimizerService, type RunningOptimizerService } from './service.js';
import { optimizerConfigSchema, type OptimizerConfigInput } from './config.js';
import { grpcProfiler } from './ports.js';
import { RemoteProfileBackend } from './strategies.js';

const logger = pino({ level: 'silent' });
const TRAIN = common.WorkloadKind.WORKLOAD_KIND_TRAIN;
const INFER = common.WorkloadKind.WORKLOAD_KIND_INFER;

const PROBLEM = {
  device: 'orin-agx',
  trainWorkload: { name: 'resnet18', kind: TRAIN },
  trainBatchSize: 32,
  powerBudgetW: 30,
  streams: [{ name: 'cam', workload: { name: 'mobilenet', kind: INFER }, arrivalRatePerS: 10, latencyBudgetS: 0.5, candidateBatchSizes: [1, 4, 16] }],
};

/** The board id of the board services here (startBoardServices' default). */
const BOARD = 'test-board';
const FAST_RETRY = { attempts: 3, initialBackoffMs: 50, maxBackoffMs: 200 };

function profilerConfig(board: BoardServices, dir: string, port = 0): ProfilerConfigInput {
  return {
    grpc: { port },
    metrics: { port: -1 },
    store: { path: join(dir, 'profiles.db') },
    controller: { address: board.controllerAddress, ...FAST_RETRY },
    executor: { address: board.executorAddress, ...FAST_RETRY },
    protocol: { settleS: 0.05, warmupMinibatches: 1, measuredMinibatches: 4, telemetryIntervalMs: 2, measureAttempts: 3 },
  };
}

function optimizerConfig(profilerAddress: string, executorAddress: string, extra: OptimizerConfigInput = {}): OptimizerConfigInput {
  return {
    grpc: { port: 0 },
    metrics: { port: 0 },
    profiler: { address: profilerAddress, ...FAST_RETRY },
    executor: { address: executorAddress, apply: true, ...FAST_RETRY },
    replan: { minIntervalS: 0 },
    ...extra,
  };
}

function client(address: string, token?: string): optimizer.OptimizerClient {
  const { credentials, options } = clientSecurity({ token });
  return new optimizer.OptimizerClient(address, credentials, options);
}

type SolveReq = Parameters<typeof optimizer.SolveRequest.fromPartial>[0];

/** Every event of one Solve; rejects with the stream's error. */
function solve(c: optimizer.OptimizerClient, req: SolveReq, onEvent?: (ev: optimizer.SolveResponse) => void): Promise<optimizer.SolveResponse[]> {
  return new Promise((resolve, reject) => {
    const events: optimizer.SolveResponse[] = [];
    const call = c.solve(optimizer.SolveRequest.fromPartial(req), new grpc.Metadata(), { deadline: new Date(Date.now() + 120_000) });
    call.on('data', (ev: optimizer.SolveResponse) => {
      events.push(ev);
      onEvent?.(ev);
    });
    call.on('error', reject);
    call.on('end', () => resolve(events));
  });
}

const completedOf = (events: optimizer.SolveResponse[]): optimizer.SolveCompleted => {
  const last = events[events.length - 1]?.event;
  assert.equal(last?.$case, 'completed', 'the stream ends with SolveCompleted');
  return (last as { $case: 'completed'; value: optimizer.SolveCompleted }).value;
};
const allModeEvents = (events: optimizer.SolveResponse[]): optimizer.ModeProfiled[] =>
  events.filter((e) => e.event?.$case === 'modeProfiled').map((e) => (e.event as { value: optimizer.ModeProfiled }).value);
/** A mode's first event of a Solve (its re-measures, issue 16, are `remeasureEvents`). */
const modeEvents = (events: optimizer.SolveResponse[]): optimizer.ModeProfiled[] => allModeEvents(events).filter((m) => !m.remeasured);
const remeasureEvents = (events: optimizer.SolveResponse[]): optimizer.ModeProfiled[] => allModeEvents(events).filter((m) => m.remeasured);

const replan = (c: optimizer.OptimizerClient, req: Parameters<typeof optimizer.ReplanRequest.fromPartial>[0]) =>
  unaryCall<optimizer.ReplanResponse>((o, cb) => c.replan(optimizer.ReplanRequest.fromPartial(req), new grpc.Metadata(), o, cb), 60_000);

const invalid = (field: string) => (err: grpc.ServiceError) => {
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
  assert.equal(errorField(err), field, err.details);
  return true;
};

describe('optimizer service over the profiler, device-controller and executor services', () => {
  let dir: string;
  let board: BoardServices;
  let bus: EventBus;
  const applied: string[] = [];
  const measurements = async (): Promise<number> => (await board.counts()).measurements;
  /** Waits until the executor announces the plan on plan.applied (it takes effect at a minibatch boundary). */
  const appliedOnExecutor = async (planId: string): Promise<boolean> => {
    for (let i = 0; i < 250 && !applied.includes(planId); i++) await new Promise((r) => setTimeout(r, 20));
    return applied.includes(planId);
  };
  let prof: RunningProfilerService;
  let opt: RunningOptimizerService;
  let c: optimizer.OptimizerClient;
  let firstPlan: common.Plan;
  let gmdModes = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-optimizer-'));
    bus = new InProcessHub().connect();
    bus.subscribe(eventFilter('plan.applied'), (m) => void applied.push(m.event.planId));
    board = await startBoardServices({ bus, timeScale: 20 });
    prof = await startProfilerService(profilerConfig(board, dir), { logger, bus });
    // Every mode measured once: the reuse properties below (a Solve repeated profiles nothing new)
    // hold for stored values that stay put; re-measurement has its own tests below.
    opt = await startOptimizerService(optimizerConfig(prof.address, board.executorAddress, { margins: { remeasure: false } }), { logger, bus });
    c = client(opt.address);
  });
  after(async () => {
    c.close();
    await opt.close(100);
    await prof.close(100);
    await board.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('Solve with GMD streams one ModeProfiled per profiled mode, then the plan; the plan is applied on the executor', async () => {
    const seen: string[] = [];
    const events = await solve(c, { problem: PROBLEM, strategy: optimizer.Strategy.STRATEGY_GMD }, (ev) => seen.push(ev.event!.$case));
    const modes = modeEvents(events);
    const again = remeasureEvents(events);
    const done = completedOf(events);
    assert.ok(modes.length >= 3 && modes.length <= 15, `GMD profiled ${modes.length} modes`);
    assert.deepEqual(seen, [...allModeEvents(events).map(() => 'modeProfiled'), 'completed'], 'progress arrives as it happens, the plan last');
    assert.deepEqual(modes[0]!.mode, { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, 'GMD starts at MAXN');
    for (const [i, m] of modes.entries()) {
      assert.equal(m.reused, false);
      assert.equal(m.results.length, 4, 'training at bT and the stream at each candidate batch size');
      assert.equal(m.cost?.modesProfiled, i + 1);
    }
    for (const m of again) assert.deepEqual([m.reused, m.results.length, m.results[0]!.samples], [false, 4, 4], 'a re-measure reports its fresh window');
    assert.ok(modes[modes.length - 1]!.bestPlan, 'a best plan so far');
    const plan = done.plan!;
    assert.equal(plan.feasible, true, `plan: ${JSON.stringify(plan)}`);
    assert.equal(plan.strategy, 'gmd');
    assert.ok(plan.predictedPowerW <= 30);
    assert.ok(plan.streams[0]!.predictedLatencyS <= 0.5);
    assert.ok(plan.predictedTrainThroughputSamplesPerS > 0);
    assert.notEqual(plan.planId, '');
    assert.deepEqual(done.cost?.modesProfiled, modes.length);
    assert.equal(done.cost?.modesReused, 0);
    assert.equal(done.cost?.remeasures, again.length, 'the re-measures are counted apart');
    assert.ok(done.cost!.profilingSeconds > (modes.length + again.length) * 0.5, 'switch + settle + minibatches of every mode and re-measure');
    assert.equal(await measurements(), 4 * (modes.length + again.length), 'one measurement run per (mode, workload, batch size) and per re-measure');
    assert.ok(await appliedOnExecutor(plan.planId), 'the executor runs the plan');
    // The plan brought its front (the modes looked at, complete): the executor can re-plan from it
    // should the optimizer fall silent (issue 15, 3).
    const front = board.executor.node.status().frontModes;
    assert.ok(front >= 1 && front <= modes.length, `${front} front modes of ${modes.length} looked at`);
    firstPlan = plan;
    gmdModes = modes.length;
  });

  it('a second identical Solve profiles nothing new, here and in a fresh optimizer (the profiler answers from its store)', async () => {
    const before = await measurements();
    const again = await solve(c, { problem: PROBLEM });
    assert.equal(modeEvents(again).length, gmdModes);
    assert.ok(modeEvents(again).every((m) => m.reused));
    assert.deepEqual(completedOf(again).cost && { p: completedOf(again).cost!.modesProfiled, r: completedOf(again).cost!.modesReused, s: completedOf(again).cost!.profilingSeconds }, { p: 0, r: gmdModes, s: 0 });
    assert.deepEqual(completedOf(again).plan?.mode, firstPlan.mode);
    const fresh = await startOptimizerService(optimizerConfig(prof.address, board.executorAddress, { replan: { auto: false }, executor: { apply: false }, margins: { remeasure: false } }), { logger });
    const fc = client(fresh.address);
    try {
      const events = await solve(fc, { problem: PROBLEM, strategy: optimizer.Strategy.STRATEGY_GMD });
      assert.equal(completedOf(events).cost?.modesProfiled, 0);
      assert.ok(modeEvents(events).every((m) => m.reused));
      assert.deepEqual(completedOf(events).plan?.mode, firstPlan.mode);
    } finally {
      fc.close();
      await fresh.close(100);
    }
    assert.equal(await measurements(), before);
  });

  it('Replan answers a new power budget, rate or latency budget from the stored profiles with zero new profiling', async () => {
    const before = await measurements();
    const tighter = await replan(c, { problem: { ...PROBLEM, powerBudgetW: 22 }, previousPlanId: firstPlan.planId });
    assert.equal(tighter.cost?.modesProfiled, 0);
    assert.ok(tighter.cost!.modesReused >= gmdModes);
    assert.equal(tighter.plan?.strategy, 'stored-front');
    assert.ok(!tighter.plan!.feasible || tighter.plan!.predictedPowerW <= 22);
    const sameAgain = await replan(c, { problem: PROBLEM, previousPlanId: firstPlan.planId });
    assert.equal(sameAgain.changed, false, 'the same problem gives the plan that runs');
    const faster = await replan(c, { problem: { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, arrivalRatePerS: 40, latencyBudgetS: 0.3 }] } });
    assert.equal(faster.cost?.modesProfiled, 0);
    assert.equal(await measurements(), before, 'nothing measured');
  });

  it('Replan with nothing stored for the key: FAILED_PRECONDITION, or profiling when allowed', async () => {
    const other = { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, workload: { name: 'resnet50', kind: INFER } }] };
    await assert.rejects(replan(c, { problem: other }), (err: grpc.ServiceError) => err.code === grpc.status.FAILED_PRECONDITION && /allow_profiling/.test(err.details));
    const before = await measurements();
    const allowed = await replan(c, { problem: other, allowProfiling: true, strategy: optimizer.Strategy.STRATEGY_MAXN });
    assert.equal(allowed.cost?.modesProfiled, 1);
    assert.equal(allowed.plan?.strategy, 'maxn');
    assert.equal(await measurements(), before + 3, 'resnet50 at its 3 batch sizes; training at MAXN is stored already');
  });

  it('an infeasible problem completes with feasible = false and the binding constraint, not an error', async () => {
    // Latency cannot bind here (a 1000 s budget), whatever modes the search saw: power must.
    const events = await solve(c, { problem: { ...PROBLEM, powerBudgetW: 2, streams: [{ ...PROBLEM.streams[0]!, latencyBudgetS: 1000 }] } });
    const plan = completedOf(events).plan!;
    assert.equal(plan.feasible, false);
    assert.equal(plan.bindingConstraint, common.Constraint.CONSTRAINT_POWER);
    assert.ok(plan.violations.some((v) => v.constraint === common.Constraint.CONSTRAINT_POWER && v.value > v.limit));
    const latency = completedOf(await solve(c, { problem: { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, latencyBudgetS: 0.001 }] } })).plan!;
    assert.equal(latency.feasible, false);
    assert.equal(latency.bindingConstraint, common.Constraint.CONSTRAINT_LATENCY);
    assert.equal(latency.bindingStream, 'cam');
  });

  it('GetParetoFront returns the stored time–power front, power ascending and throughput rising', async () => {
    const res = await unaryCall<optimizer.GetParetoFrontResponse>((o, cb) =>
      c.getParetoFront(optimizer.GetParetoFrontRequest.fromPartial({ problem: { ...PROBLEM, powerBudgetW: 0 } }), new grpc.Metadata(), o, cb),
    );
    assert.ok(res.modesConsidered >= gmdModes);
    assert.ok(res.points.length >= 1 && res.points.length <= res.modesConsidered);
    for (let i = 1; i < res.points.length; i++) {
      assert.ok(res.points[i]!.predictedPowerW >= res.points[i - 1]!.predictedPowerW);
      assert.ok(res.points[i]!.predictedTrainThroughputSamplesPerS > res.points[i - 1]!.predictedTrainThroughputSamplesPerS);
    }
    assert.ok(res.points.every((p) => p.feasible), 'the latency budget holds on the front');
  });

  it('ALS profiles its budget once (and at most 2 modes of polish a Solve); re-plans for new budgets and rates come from the stored modes with no profiling', async () => {
    const problem = { ...PROBLEM, trainWorkload: { name: 'mobilenet', kind: TRAIN }, powerBudgetW: 25 };
    const events = await solve(c, { problem, strategy: optimizer.Strategy.STRATEGY_ALS, modeBudget: 20, grid: '441' });
    const done = completedOf(events);
    assert.equal(done.plan?.strategy, 'als-20');
    const first = modeEvents(events).length;
    assert.ok(first >= 20 && first <= 22, `${first} modes`);
    assert.equal(done.cost?.modesProfiled, first);
    const before = await measurements();
    for (const change of [{ powerBudgetW: 18 }, { powerBudgetW: 40 }, { streams: [{ ...PROBLEM.streams[0]!, arrivalRatePerS: 25 }] }]) {
      const res = await replan(c, { problem: { ...problem, ...change }, previousPlanId: done.plan!.planId, strategy: optimizer.Strategy.STRATEGY_ALS });
      assert.equal(res.cost?.modesProfiled, 0);
      assert.equal(res.cost?.modesReused, first, 'every stored mode of the key, the polished ones too');
    }
    assert.equal(await measurements(), before, 'a re-plan measures nothing');
    const again = completedOf(await solve(c, { problem: { ...problem, powerBudgetW: 18 }, strategy: optimizer.Strategy.STRATEGY_ALS, modeBudget: 20, grid: '441' }));
    const polished = again.cost?.modesProfiled ?? -1;
    assert.ok(polished >= 0 && polished <= 2, 'a Solve for a new budget reuses the prepared front, and polishes with at most 2 modes');
    // A mode is measured training and at each candidate batch size.
    assert.ok((await measurements()) - before <= polished * (1 + PROBLEM.streams[0]!.candidateBatchSizes.length));
  });

  it('rejects bad input with INVALID_ARGUMENT naming the field', async () => {
    await assert.rejects(solve(c, { problem: { ...PROBLEM, powerBudgetW: -5 } }), invalid('problem.powerBudgetW'));
    await assert.rejects(solve(c, { problem: { ...PROBLEM, trainWorkload: { name: 'alexnet', kind: TRAIN } } }), invalid('problem.trainWorkload.name'));
    await assert.rejects(solve(c, { problem: { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, workload: { name: 'nope' } }] } }), invalid('problem.streams[0].workload.name'));
    await assert.rejects(solve(c, { problem: { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, arrivalRatePerS: 0 }] } }), invalid('problem.streams[0].arrivalRatePerS'));
    await assert.rejects(solve(c, { problem: { ...PROBLEM, device: 'toaster' } }), invalid('problem.device'));
    await assert.rejects(solve(c, { problem: PROBLEM, grid: '99' }), invalid('grid'));
    await assert.rejects(solve(c, { problem: PROBLEM, strategy: optimizer.Strategy.STRATEGY_ORACLE }), invalid('strategy'));
    await assert.rejects(solve(c, { problem: undefined }), invalid('problem'));
    // Issue 14 (1): a 5,000-stream problem is refused at the door, before any cache is built for it.
    const many = Array.from({ length: 5000 }, (_, i) => ({ ...PROBLEM.streams[0]!, name: `s${i}` }));
    const rssBefore = process.memoryUsage().rss;
    await assert.rejects(solve(c, { problem: { ...PROBLEM, streams: many } }), invalid('problem.streams'));
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'no per-stream caches were built');
    await assert.rejects(solve(c, { problem: { ...PROBLEM, trainBatchSize: 65_536 } }), invalid('problem.trainBatchSize'));
    // A uint64 the generated decoder cannot hold as a number: INVALID_ARGUMENT saying so, not INTERNAL.
    await assert.rejects(solve(c, { problem: PROBLEM, seed: 2 ** 53 }), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /the request cannot be decoded: .*MAX_SAFE_INTEGER|cannot be decoded/.test(err.details));
    await assert.rejects(replan(c, { problem: { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, latencyBudgetS: -1 }] } }), invalid('problem.streams[0].latencyBudgetS'));
  });

  it('re-plans by itself when arrivals.rate shows a rate moved beyond the threshold, and applies a changed plan', async () => {
    const replans = async (): Promise<{ total: number; changed: number }> => {
      const lines = (await (await fetch(`${opt.metricsUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith('fulcrum_optimizer_replans_total{') && l.includes('trigger="arrivals"'));
      const sum = (ls: string[]) => ls.reduce((a, l) => a + Number(l.split(' ').pop()), 0);
      return { total: sum(lines), changed: sum(lines.filter((l) => l.includes('outcome="changed"'))) };
    };
    // The plan that runs now: solved and applied here.
    const running = completedOf(await solve(c, { problem: PROBLEM })).plan!;
    assert.ok(await appliedOnExecutor(running.planId));
    const start = await replans();
    // Like the executor's events: no plan id, the rates over a window.
    const event = (rate: number) => ({ measuredAt: new Date().toISOString(), windowS: 10, streams: [{ stream: 'cam', arrivalRatePerS: rate, plannedRatePerS: 10 }] });
    await bus.publish(arrivalsRateSubject(BOARD), event(10.5)); // 5 %: below the 20 % threshold
    await bus.publish(arrivalsRateSubject(BOARD), event(0)); // no traffic: never re-plans
    await bus.publish(arrivalsRateSubject(BOARD), event(80)); // ×8: re-plan
    for (let i = 0; i < 250 && (await replans()).total === start.total; i++) await new Promise((r) => setTimeout(r, 20));
    const end = await replans();
    assert.equal(end.total - start.total, 1, 'one re-plan, for the move beyond the threshold only');
    const now = opt.optimizer.runningPlan(BOARD)!;
    if (end.changed > start.changed) {
      assert.notEqual(now, running.planId);
      assert.ok(await appliedOnExecutor(now), 'the new plan runs on the executor');
      assert.equal(opt.optimizer.plans.get(now)?.problem.streams[0]?.arrivalRatePerS, 80, 'planned for the measured rate');
    }
    const metrics = await (await fetch(`${opt.metricsUrl}/metrics`)).text();
    assert.match(metrics, /fulcrum_optimizer_solves_total\{[^}]*strategy="gmd"[^}]*\} [1-9]/);
    // Issue 15: a board that asks for a plan (its own rule fired; it re-plans by itself if none
    // comes) gets one, although the move is below this optimizer's threshold.
    const planned = opt.optimizer.plans.get(now)!.problem.streams[0]!.arrivalRatePerS;
    await bus.publish(arrivalsRateSubject(BOARD), { ...event(planned * 1.05), replanRequested: true });
    for (let i = 0; i < 250 && (await replans()).total === end.total; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await replans()).total - end.total, 1, 'the request is answered');
    assert.ok((await (await fetch(`${opt.metricsUrl}/metrics`)).text()).includes(`board="${BOARD}"`), 're-plans are counted by board');
  });

  it('a Solve its client cancels stops profiling: nothing measured after the cancel settles', async () => {
    // A problem no key has seen yet (its own candidate batch sizes), so every mode is measured.
    const fresh = { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, candidateBatchSizes: [3, 5] }] };
    const call = c.solve(optimizer.SolveRequest.fromPartial({ problem: fresh, strategy: optimizer.Strategy.STRATEGY_ALS, modeBudget: 60 }), new grpc.Metadata());
    const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
      call.on('error', (err: grpc.ServiceError) => resolve(err));
      call.on('end', () => resolve(undefined));
    });
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.cancel();
    const err = await ended;
    assert.equal(err?.code, grpc.status.CANCELLED);
    // One profiling call may be in flight at the cancel; after it, nothing more is measured.
    await new Promise((r) => setTimeout(r, 1500));
    const settled = await measurements();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await measurements(), settled, 'the cancelled Solve measured nothing more');
  });

  it('ignores an arrivals.rate event naming a plan that is not the one running (stale or forged): the old job never comes back (issue 14, 3)', async () => {
    const replans = async (): Promise<number> =>
      (await (await fetch(`${opt.metricsUrl}/metrics`)).text())
        .split('\n')
        .filter((l) => l.startsWith('fulcrum_optimizer_replans_total{') && l.includes('trigger="arrivals"'))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    const old = completedOf(await solve(c, { problem: { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, arrivalRatePerS: 12 }] } })).plan!;
    assert.ok(await appliedOnExecutor(old.planId));
    const current = completedOf(await solve(c, { problem: { ...PROBLEM, streams: [{ ...PROBLEM.streams[0]!, arrivalRatePerS: 14 }] } })).plan!;
    assert.ok(await appliedOnExecutor(current.planId));
    assert.equal(opt.optimizer.runningPlan(BOARD), current.planId);
    const start = await replans();
    // A stale event naming the older plan, with a rate far off: nothing happens.
    await bus.publish(arrivalsRateSubject(BOARD), { measuredAt: new Date().toISOString(), planId: old.planId, windowS: 10, streams: [{ stream: 'cam', arrivalRatePerS: 90, plannedRatePerS: 12 }] });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await replans(), start, 'no re-plan for a plan that does not run');
    assert.equal(opt.optimizer.runningPlan(BOARD), current.planId, 'the running plan stays');
    assert.ok(await appliedOnExecutor(current.planId), 'the executor still runs the current plan');
  });

  it('counts malformed bus messages on /metrics (fulcrum_bus_rejected_messages_total)', async () => {
    const scrape = async (): Promise<number> => {
      const line = (await (await fetch(`${opt.metricsUrl}/metrics`)).text()).split('\n').find((l) => l.startsWith('fulcrum_bus_rejected_messages_total'));
      assert.ok(line, 'the metric is exported');
      return Number(line.split(' ').pop());
    };
    const before = await scrape();
    for (let i = 0; i < 3; i++) await bus.publishRaw(arrivalsRateSubject(BOARD).subject, `{"not": "rates ${i}"}`);
    for (let i = 0; i < 100 && (await scrape()) < before + 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok((await scrape()) >= before + 3, 'each rejected message is counted');
  });
});

describe('optimizer when the profiler goes away mid-solve', () => {
  let dir: string;
  let board: BoardServices;
  let prof: RunningProfilerService;
  let opt: RunningOptimizerService;
  const TOKEN = 'optimizer-token-1';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-optimizer-'));
    board = await startBoardServices({ timeScale: 20 });
    prof = await startProfilerService(profilerConfig(board, dir), { logger });
    opt = await startOptimizerService(optimizerConfig(prof.address, board.executorAddress, { grpc: { port: 0, token: TOKEN }, executor: { apply: false } }), { logger });
  });
  after(async () => {
    await opt.close(100);
    await prof.close(100);
    await board.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('needs the token (health checks do not)', async () => {
    const Health = grpc.makeClientConstructor(healthService, 'Health');
    const h = new Health(opt.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      h['check']!({ service: 'fulcrum.optimizer.v1.Optimizer' }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r))),
    );
    assert.equal(res.status, 'SERVING');
    h.close();
    const anonymous = client(opt.address);
    await assert.rejects(solve(anonymous, { problem: PROBLEM }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
    anonymous.close();
  });

  it('ends the stream with UNAVAILABLE, and a retry after the restart succeeds, keeping what was measured', async () => {
    const c = client(opt.address, TOKEN);
    const port = prof.port;
    let killed: Promise<void> | undefined;
    await assert.rejects(
      solve(c, { problem: PROBLEM }, (ev) => {
        if (ev.event?.$case === 'modeProfiled' && !killed) killed = prof.close(0);
      }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
        assert.match(err.details, /profiler at 127\.0\.0\.1:\d+/);
        return true;
      },
    );
    await killed;
    const measuredBefore = (await board.counts()).measurements;
    prof = await startProfilerService(profilerConfig(board, dir, port), { logger });
    const events = await solve(c, { problem: PROBLEM });
    const done = completedOf(events);
    assert.equal(done.plan?.feasible, true);
    assert.ok(done.cost!.modesReused >= 1, 'the mode measured before the failure is not measured again');
    assert.equal((await board.counts()).measurements - measuredBefore, 4 * (done.cost!.modesProfiled + done.cost!.remeasures), 'only modes not stored before are measured (and re-measures)');
    c.close();
  });
});

describe('re-measurement through the services (issue 16): the optimizer asks, the profiler takes a fresh window and keeps the combination', () => {
  let dir: string;
  let bus: EventBus;
  let board: BoardServices;
  let prof: RunningProfilerService;
  let opt: RunningOptimizerService;
  let c: optimizer.OptimizerClient;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-optimizer-remeasure-'));
    bus = new InProcessHub().connect();
    board = await startBoardServices({ bus, timeScale: 20 });
    // The default protocol's 20 measured minibatches per window.
    prof = await startProfilerService({ ...profilerConfig(board, dir), protocol: { settleS: 0.05, warmupMinibatches: 1, measuredMinibatches: 20, telemetryIntervalMs: 2, measureAttempts: 3 } }, { logger, bus });
    opt = await startOptimizerService(optimizerConfig(prof.address, board.executorAddress, { executor: { apply: false }, replan: { auto: false } }), { logger, bus });
    c = client(opt.address);
  });
  after(async () => {
    c.close();
    await opt.close(100);
    await prof.close(100);
    await board.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a GMD Solve on the noisy virtual board re-measures where a margin decides: counted apart, charged, and the store holds the combined windows', async () => {
    // Whether a margin decides depends on the noise each window drew (power is read from live
    // telemetry, so not every run is alike). So the budgets close in on the last plan: each next
    // Solve of the key (its modes cached) gets a budget just over the power the last plan was
    // measured at, so that mode meets it on its measurements but not with its margins, and would
    // beat the plans the new budget leaves (a margin decides), until a Solve re-measures. (A few
    // percent over, the descent found a new mode each time, about 5 % under the budget: no close
    // call in 8 Solves in 1 of 3 runs; just over, a re-measure came within 1–6 Solves in 5 of 5.)
    let events: optimizer.SolveResponse[] = [];
    const all: optimizer.ModeProfiled[] = [];
    let measured = 0;
    let powerBudgetW = 22;
    for (const over of [1.01, 1.005, 1.02, 1.0075, 1.015, 1.03, 1.0125, 1.025, 1.01, 1.005, 1.02, 1.0075]) {
      const before = (await board.counts()).measurements;
      events = await solve(c, { problem: { ...PROBLEM, powerBudgetW }, strategy: optimizer.Strategy.STRATEGY_GMD });
      measured = (await board.counts()).measurements - before;
      all.push(...remeasureEvents(events));
      if (completedOf(events).cost!.remeasures > 0) break;
      powerBudgetW = Math.round(completedOf(events).plan!.predictedPowerW * over * 100) / 100;
    }
    const firsts = modeEvents(events);
    const again = remeasureEvents(events);
    const done = completedOf(events);
    assert.ok(done.cost!.remeasures > 0, `re-measures: ${done.cost!.remeasures} (modes ${done.cost!.modesProfiled})`);
    assert.equal(done.cost!.remeasures, again.length, 'one ModeProfiled (remeasured) per re-measure');
    assert.ok(done.cost!.remeasures <= 3, 'at most 3 per problem (the strategies\' rule)');
    assert.equal(done.cost!.modesProfiled, firsts.filter((m) => !m.reused).length, 're-measures are not counted as modes profiled');
    assert.equal(measured, 4 * (done.cost!.modesProfiled + again.length), 'a re-measure measures every (workload, batch size) of the mode once more');
    for (const ev of again) {
      assert.equal(ev.reused, false);
      assert.ok(ev.results.every((r) => r.samples === 80 && r.windows === undefined), 'the event carries the fresh window, of 4 × n minibatches');
      assert.ok(firsts.some((f) => JSON.stringify(f.mode) === JSON.stringify(ev.mode)), 'a mode reported earlier in the call');
    }
    // Seconds: the re-measures' are in the cost (each window longer than its mode's first).
    const lastFirst = Math.max(0, ...firsts.map((m) => m.cost!.profilingSeconds));
    assert.ok(done.cost!.profilingSeconds > lastFirst, `${done.cost!.profilingSeconds} s with re-measures, ${lastFirst} s before`);
    // The profiler's store: every re-measured mode's results combine its windows, 20 samples the first and 80 each re-measure.
    for (const ev of again) {
      const windows = 1 + all.filter((e) => JSON.stringify(e.mode) === JSON.stringify(ev.mode)).length;
      const stored = await prof.store.query({ device: 'orin-agx', mode: ev.mode! });
      const key = stored.filter((r) => (r.workload === 'resnet18' && r.batchSize === 32) || (r.workload === 'mobilenet' && [1, 4, 16].includes(r.batchSize)));
      assert.equal(key.length, 4);
      for (const r of key) {
        assert.deepEqual([r.samples, r.windows], [20 + 80 * (windows - 1), windows], `${r.workload} b${r.batchSize}`);
        // Σwᵢ² of the windows' weights, kept so another optimizer reading the store keeps the same margins.
        const weights = [20, ...Array.from({ length: windows - 1 }, () => 80)].map((n) => n / r.samples);
        assert.ok(Math.abs(r.windowWeightsSquared! - weights.reduce((a, w) => a + w * w, 0)) < 1e-9, `${r.workload} b${r.batchSize}: Σwᵢ² ${r.windowWeightsSquared}`);
      }
    }
    const metrics = await (await fetch(`${opt.metricsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`fulcrum_optimizer_remeasures_total\\{service="optimizer"\\} ${all.length}\\b`));
    // The same problem again (as a second board of the model would send it, under its own stream
    // name): answered among the modes that Solve looked at, with nothing measured — its re-measures
    // moved the figures, and running GMD again on them could take another path.
    const measuredBefore = (await board.counts()).measurements;
    const repeat = await solve(c, { problem: { ...PROBLEM, powerBudgetW, streams: PROBLEM.streams.map((s) => ({ ...s, name: `other-${s.name}` })) }, strategy: optimizer.Strategy.STRATEGY_GMD });
    const repeated = completedOf(repeat);
    assert.deepEqual([repeated.cost!.modesProfiled, repeated.cost!.remeasures, (await board.counts()).measurements - measuredBefore], [0, 0, 0], 'a repeated problem profiles and re-measures nothing');
    assert.equal(repeated.cost!.modesReused, firsts.length, 'it reports the modes the first Solve looked at');
    assert.deepEqual(repeated.plan!.mode, done.plan!.mode, 'and keeps that plan while it holds');
    console.log(`# re-measurement through the services: ${done.cost!.modesProfiled} modes profiled (${firsts.length} looked at) + ${again.length} re-measures, ${done.cost!.profilingSeconds.toFixed(1)} s of profiling (${lastFirst.toFixed(1)} s before the re-measures)`);
  });

  it('a re-measure the profiler answers from its store (the key at its limit of windows) is not counted; the stored values come back', async () => {
    const problem = { ...PROBLEM, powerBudgetW: 22 };
    const space = ModeSpace.fromGrid(getDevice('orin-agx').grid);
    const key = tableKeyOf(validateProblem(problemFromProto(common.Problem.fromPartial(problem))));
    const mode = space.indexOf({ cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 })!;
    const port = grpcProfiler({ config: optimizerConfigSchema.parse({ profiler: { address: prof.address } }).profiler });
    try {
      const backend = new RemoteProfileBackend(port, getDevice('orin-agx'), space, 0.025);
      // MAXN (GMD's start) is stored; bring its results to the limit, as other optimizers' re-measures would.
      const stored = (await prof.store.query({ device: 'orin-agx', mode: space.mode(mode) })).filter((r) => r.workload === 'resnet18' || r.workload === 'mobilenet');
      for (const r of stored) await prof.store.put({ ...r, samples: 20 * MAX_PROFILE_WINDOWS, windows: MAX_PROFILE_WINDOWS });
      const before = (await board.counts()).measurements;
      const m = await backend.measure(key, mode, { repeat: 1 });
      assert.equal((await board.counts()).measurements, before, 'nothing measured past the limit');
      const record = backend.record(key, mode)!;
      assert.equal(record.remeasured, false);
      assert.equal(m.windows, MAX_PROFILE_WINDOWS, 'the stored values, with their windows, for the cache to hold');
      assert.equal(m.training.samples, 20 * MAX_PROFILE_WINDOWS);
    } finally {
      port.close?.();
    }
  });
});

/** A board, a profiler and an optimizer of their own for one test, all closed after `fn`. */
async function ownStack(
  options: { readonly timeScale: number; readonly protocol?: ProfilerConfigInput['protocol']; readonly optimizer?: OptimizerConfigInput; readonly workloadDir?: (dir: string) => string },
  fn: (stack: { readonly board: BoardServices; readonly c: optimizer.OptimizerClient }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-optimizer-own-'));
  const bus = new InProcessHub().connect();
  const board = await startBoardServices({ bus, timeScale: options.timeScale });
  const prof = await startProfilerService({ ...profilerConfig(board, dir), ...(options.protocol ? { protocol: options.protocol } : {}) }, { logger, bus });
  const extra = options.workloadDir ? { ...options.optimizer, workloads: { paths: [options.workloadDir(dir)] } } : (options.optimizer ?? {});
  const opt = await startOptimizerService(optimizerConfig(prof.address, board.executorAddress, extra), { logger, bus });
  const c = client(opt.address);
  try {
    await fn({ board, c });
  } finally {
    c.close();
    await opt.close(100);
    await prof.close(100);
    await board.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a cancelled Solve stops the measurement in flight, end to end (issue 14, 2)', () => {
  it('cancel → the optimizer cancels its Profile call → the profiler cancels RunMeasurement → the executor frees the GPU within seconds', async () => {
    // Real time: one resnet18 training minibatch is ~0.1 s, so the profiler's 5,000-minibatch window
    // would hold the GPU for minutes if nothing passed the cancellation on.
    const protocol = { settleS: 0.05, warmupMinibatches: 0, measuredMinibatches: 5000, telemetryIntervalMs: 20, measureAttempts: 1 };
    await ownStack({ timeScale: 1, protocol }, async ({ board, c }) => {
      const call = c.solve(optimizer.SolveRequest.fromPartial({ problem: PROBLEM }), new grpc.Metadata());
      const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
        call.on('error', (err: grpc.ServiceError) => resolve(err));
        call.on('end', () => resolve(undefined));
        call.on('data', () => undefined);
      });
      for (let i = 0; i < 500 && !board.executor.runner.measuring; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(board.executor.runner.measuring, 'the executor is measuring for the Solve');
      call.cancel();
      assert.equal((await ended)?.code, grpc.status.CANCELLED);
      const t0 = performance.now();
      for (let i = 0; i < 150 && board.executor.runner.measuring; i++) await new Promise((r) => setTimeout(r, 20));
      const freedS = (performance.now() - t0) / 1000;
      assert.equal(board.executor.runner.measuring, false, `the executor still measures ${freedS.toFixed(1)} s after the cancel`);
    });
  });
});

describe('a profiler that refuses the Profile request the optimizer built (issue 14: the batch error that named workloads[0].batchSizes[0])', () => {
  it("is FAILED_PRECONDITION naming the profiler, with no error detail pointing at a field the Solve's caller never sent", async () => {
    // The optimizer knows a user's workload folder; the profiler (and the board) do not.
    await ownStack({ timeScale: 50, workloadDir: (dir) => writeTinyWorkload(join(dir, 'their-mlp'), { name: 'their-mlp' }) }, async ({ c }) => {
      const problem = { ...PROBLEM, trainWorkload: { name: 'their-mlp', kind: TRAIN }, trainBatchSize: 16 };
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        const call = c.solve(optimizer.SolveRequest.fromPartial({ problem }), new grpc.Metadata(), { deadline: new Date(Date.now() + 60_000) });
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.on('end', () => reject(new Error('the Solve should have failed')));
      });
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.details);
      assert.match(err.details, /^profiler at 127\.0\.0\.1:\d+ refused the Profile request this optimizer built \(its workloads\[0\]\.workload\.name\): .*unknown workload "their-mlp"/);
      assert.equal(errorField(err), undefined, 'no field of the Solve request is blamed');
    });
  });
});

describe("a board's announced executor gets the executor token only where no one else can read it", () => {
  const EXECUTOR_TOKEN = 'executor-token-never-leaked';
  let bus: EventBus;
  const started: RunningOptimizerService[] = [];
  before(() => {
    bus = new InProcessHub().connect();
  });
  after(async () => {
    for (const s of started) await s.close(0);
    await bus.close();
  });

  async function optimizerWith(executor: OptimizerConfigInput['executor']): Promise<optimizer.OptimizerClient> {
    // The profiler is never reached by the refused Solves; the others fail on it (nothing listens on port 1).
    const opt = await startOptimizerService(
      { grpc: { port: 0 }, metrics: { port: -1 }, profiler: { address: '127.0.0.1:1', attempts: 1 }, executor: { address: '127.0.0.1:2', token: EXECUTOR_TOKEN, ...executor } },
      { logger, bus },
    );
    started.push(opt);
    return client(opt.address);
  }

  async function announce(board: string, executorAddress: string): Promise<void> {
    await bus.publish(boardAnnounceSubject(board), { measuredAt: new Date().toISOString(), device: 'orin-agx', softwareStack: 'jp6', executorAddress, state: 'idle' });
  }

  it('refuses, before any profiling, an executor on another host unless executor.boardHosts lists it or the fleet CA vouches for it; loopback is dialled', async () => {
    const plain = await optimizerWith({});
    const listed = await optimizerWith({ boardHosts: ['10.255.0.0/16', '*.fleet.example', 'fd00:0::7'] });
    // TLS with the system roots: any public host has a valid certificate for the name it announces.
    const systemRoots = await optimizerWith({ tls: true });
    const caDir = mkdtempSync(join(tmpdir(), 'fulcrum-trust-'));
    const ca = join(caDir, 'ca.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(caDir, 'ca.key'), '-out', ca, '-days', '1', '-subj', '/CN=fleet-ca'], { stdio: 'ignore' });
    const fleetCa = await optimizerWith({ tls: true, tlsCa: ca });
    await announce('far-board', '10.254.0.1:50052');
    await announce('near-board', '127.0.0.1:50052');
    await announce('listed-board', '10.255.3.4:50052');
    await announce('named-board', 'jetson-7.fleet.example:50052');
    await announce('v6-board', '[fd00::7]:50052');
    await sleep(50);
    const refused = (address: string) => (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.details);
      assert.match(err.details, new RegExp(`board "?[a-z0-9-]+"?: its announced executor ${address.replace(/[.[\]]/g, '\\$&')} would get the executor token without a peer this optimizer vouches for.*executor\\.tls-ca.*executor\\.board-hosts`));
      assert.doesNotMatch(err.details, new RegExp(EXECUTOR_TOKEN));
      return true;
    };
    // Not refused: the Solve goes on to profile, and fails on the unreachable profiler instead.
    const profilerDown = (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
      return true;
    };
    await assert.rejects(solve(plain, { problem: PROBLEM, board: 'far-board' }), refused('10.254.0.1:50052'));
    await assert.rejects(solve(plain, { problem: PROBLEM, board: 'listed-board' }), refused('10.255.3.4:50052'));
    await assert.rejects(solve(plain, { problem: PROBLEM, board: 'named-board' }), refused('jetson-7.fleet.example:50052'));
    await assert.rejects(solve(plain, { problem: PROBLEM, board: 'near-board' }), profilerDown);
    await assert.rejects(solve(listed, { problem: PROBLEM, board: 'listed-board' }), profilerDown);
    await assert.rejects(solve(listed, { problem: PROBLEM, board: 'named-board' }), profilerDown);
    await assert.rejects(solve(listed, { problem: PROBLEM, board: 'far-board' }), refused('10.254.0.1:50052'));
    await assert.rejects(solve(listed, { problem: PROBLEM, board: 'v6-board' }), profilerDown);
    await assert.rejects(solve(plain, { problem: PROBLEM, board: 'v6-board' }), refused('[fd00::7]:50052'));
    await assert.rejects(solve(systemRoots, { problem: PROBLEM, board: 'far-board' }), refused('10.254.0.1:50052'));
    await assert.rejects(solve(fleetCa, { problem: PROBLEM, board: 'far-board' }), profilerDown);
    rmSync(caDir, { recursive: true, force: true });
    // A Replan of the plan a refused board runs says so too, before asking the profiler for stored
    // profiles (it went on, and applied nothing and logged it); a dialled board's goes on.
    await bus.publish(planAppliedSubject('far-board'), { planId: 'far-plan', appliedAt: new Date().toISOString(), mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, streams: [] });
    await bus.publish(planAppliedSubject('near-board'), { planId: 'near-plan', appliedAt: new Date().toISOString(), mode: { cores: 12, cpuMhz: 2201.6, gpuMhz: 1300.5, emcMhz: 3199 }, streams: [] });
    for (let i = 0; i < 100 && !started.every((s) => s.optimizer.runningPlan('far-board') === 'far-plan' && s.optimizer.runningPlan('near-board') === 'near-plan'); i++) await sleep(20);
    await assert.rejects(replan(plain, { problem: PROBLEM, previousPlanId: 'far-plan' }), refused('10.254.0.1:50052'));
    await assert.rejects(replan(plain, { problem: PROBLEM, previousPlanId: 'near-plan' }), profilerDown);
  });

  it('a bad executor.boardHosts entry is refused at start, naming it', async () => {
    await assert.rejects(optimizerWith({ boardHosts: ['10.0.0.0/99'] }), /executor\.boardHosts\[0\]: must be a host name, \*\.domain or an IP range/);
    await assert.rejects(optimizerWith({ boardHosts: ['ok.example', 'not a host'] }), /executor\.boardHosts\[1\]/);
  });
});
