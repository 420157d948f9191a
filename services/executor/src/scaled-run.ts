/**
 * The time-scaled mode: the real `Executor` (async loop, real timers) with the simulated runner on
 * a clock `scale` times faster than the host. Slower than `simulate` (it sleeps), but it runs the
 * very code a board runs, timers and all; every time it reports is in device seconds.
 */
import type { Arrival } from './arrivals.js';
import { ScaledClock } from './clock.js';
import { Executor, type InferOutcome } from './executor.js';
import { SimulatedRunner, type MinibatchTimeSource } from './runners/simulated.js';
import type { SimulationReport } from './simulate.js';
import type { ExecutorEvent, ExecutorEventSink, ExecutorPlan, ExecutorProblem, Replanner } from './types.js';
import type { RateWatchOptions } from './replan.js';

export interface ScaledRunOptions {
  readonly problem: ExecutorProblem;
  readonly plan: ExecutorPlan;
  readonly times: MinibatchTimeSource;
  readonly arrivals: Iterable<Arrival>;
  readonly durationS: number;
  /** Device seconds per host second, e.g. 100. */
  readonly scale: number;
  readonly replanner?: Replanner;
  readonly rateWatch?: RateWatchOptions;
  readonly events?: ExecutorEventSink;
  readonly timelineBucketS?: number;
}

export async function runScaled(options: ScaledRunOptions): Promise<SimulationReport> {
  const wall0 = performance.now();
  const clock = new ScaledClock(options.scale);
  const plans: { atS: number; plan: ExecutorPlan; problem: ExecutorProblem }[] = [];
  let replanRequests = 0;
  const events: ExecutorEventSink = {
    publish: (e: ExecutorEvent) => {
      if (e.type === 'plan.applied') plans.push({ atS: e.atS, plan: e.plan, problem: e.problem });
      if (e.type === 'replan.requested') replanRequests++;
      options.events?.publish(e);
    },
  };
  const executor = new Executor({
    runner: new SimulatedRunner(options.times, { clock, ...(options.plan.mode ? { mode: options.plan.mode } : {}) }),
    problem: options.problem,
    plan: options.plan,
    clock,
    events,
    ...(options.replanner ? { replanner: options.replanner } : {}),
    ...options.rateWatch,
    ...(options.timelineBucketS ? { timelineBucketS: options.timelineBucketS } : {}),
  });
  executor.start();
  const answers: Promise<InferOutcome | Error>[] = [];
  const arrivals = new Map<string, number>();
  for (const a of options.arrivals) {
    if (a.tS >= options.durationS) break;
    const wait = a.tS - clock.nowS();
    // Host timers are ~1 ms coarse: sleep only when at least that much host time is due.
    if (wait * 1000 > clock.scale) await clock.sleep(wait);
    arrivals.set(a.stream, (arrivals.get(a.stream) ?? 0) + 1);
    answers.push(executor.infer(a.stream).catch((err: Error) => err));
  }
  const durationS = clock.nowS();
  const status = await executor.stop();
  await Promise.all(answers);
  const streams = status.streams.map((s) => ({
    stream: s.stream,
    latencyBudgetS: s.latencyBudgetS,
    arrivals: arrivals.get(s.stream) ?? 0,
    completed: s.completed,
    failed: s.failed,
    late: s.late,
    minibatches: s.minibatches,
    partialMinibatches: s.partialMinibatches,
    maxQueueDepth: s.maxQueueDepth,
    latency: s.latencyTotal,
    batchSize: s.batchSize,
  }));
  return {
    durationS,
    endS: status.nowS,
    wallS: (performance.now() - wall0) / 1000,
    streams,
    trainMinibatches: status.trainMinibatchesTotal,
    trainThroughputSamplesPerS: status.trainThroughputSamplesPerS,
    utilization: status.utilization,
    plans,
    replanRequests,
    timeline: executor.timelinePoints(),
    allAnswered: streams.every((s) => s.arrivals === s.completed + Object.values(s.failed).reduce((a, b) => a + b, 0)),
  };
}
