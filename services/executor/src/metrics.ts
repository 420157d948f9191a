/**
 * The executor service's Prometheus metrics (served on /metrics by the service, all labelled
 * `service="executor"` by the registry). The node counts requests, minibatches, plans,
 * measurements and controller failures; the queue-depth and throughput gauges read the running
 * executor's status when scraped, and the plan gauges (budgets and predictions: what a dashboard
 * draws the measured values against, deploy/grafana) read the running plan. (The executor's own
 * measurements — latency recorders, rate meters, the timeline — are in stats.ts.)
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ExecutorStatus } from './types.js';

/** What the plan gauges read of the plan running now (the node's `applied`: its problem and the planner's record). */
export interface RunningPlanTargets {
  /** P of the problem the plan answers, watts. */
  readonly powerBudgetW: number;
  /** Board power the planner predicted, watts (0: none given). */
  readonly predictedPowerW: number;
  /** Training throughput the planner predicted, samples/s (0: none given). */
  readonly predictedTrainThroughputSamplesPerS: number;
}

export interface ExecutorServiceMetrics {
  /** Inference requests answered, by stream (`_unknown` for a stream the plan lacks) and outcome (ok, late, or the error code). */
  readonly requests: Counter<'stream' | 'outcome'>;
  /** Arrival to result of answered requests, device seconds. */
  readonly latency: Histogram<'stream'>;
  readonly queueDepth: Gauge<'stream'>;
  readonly trainThroughput: Gauge;
  /** The running plan's power budget P, watts (no sample before the first plan). */
  readonly powerBudget: Gauge;
  /** The running plan's predicted board power, watts (no sample without a prediction). */
  readonly predictedPower: Gauge;
  /** The running plan's predicted training throughput, samples/s (no sample without a prediction). */
  readonly predictedTrainThroughput: Gauge;
  /** Each planned stream's latency budget L, seconds. */
  readonly latencyBudget: Gauge<'stream'>;
  /** Each planned stream's p99 latency since the plan was applied (the executor's own recorder: what Status and the verdict judge), seconds. */
  readonly latencyP99: Gauge<'stream'>;
  /** Minibatches run, by kind (train, infer, measure). */
  readonly minibatches: Counter<'kind'>;
  readonly plansApplied: Counter;
  /** RunMeasurement calls by outcome (ok, or the gRPC status name, or failed). */
  readonly measurements: Counter<'outcome'>;
  /** Failed device-controller calls (each try), by method. */
  readonly controllerFailures: Counter<'method'>;
  /**
   * Bounds the `stream` label (STREAM_LABEL_LIMIT): once more streams than that have series, drops
   * the series of streams not in `current` (the running plan's), so plans with ever new stream
   * names never grow the scrape without bound. Call when a plan takes effect.
   */
  retainStreams(current: readonly string[]): Promise<void>;
}

/** Distinct `stream` label values kept before the series of streams no longer planned are dropped. */
export const STREAM_LABEL_LIMIT = 64;

/**
 * `status` gives the running executor's status when the gauges are scraped (undefined before the
 * first plan); `plan` the running plan's budget and predictions (undefined: none, and the plan
 * gauges have no sample).
 */
export function createExecutorServiceMetrics(
  registry: Registry,
  status: () => ExecutorStatus | undefined,
  plan: () => RunningPlanTargets | undefined = () => undefined,
): ExecutorServiceMetrics {
  /** A plan gauge: the value `of` the running plan, no sample when there is no plan or `of` is not positive. */
  const planGauge = (name: string, help: string, of: (p: RunningPlanTargets) => number): Gauge =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const p = plan();
        const v = p ? of(p) : 0;
        if (Number.isFinite(v) && v > 0) this.set(v);
        else this.remove();
      },
    });
  /** A per-stream gauge of the running plan's streams (`of` their status; undefined: no sample for that stream). */
  const streamGauge = (name: string, help: string, of: (s: ExecutorStatus['streams'][number]) => number | undefined): Gauge<'stream'> =>
    new Gauge({
      name,
      help,
      labelNames: ['stream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of status()?.streams ?? []) {
          const v = of(s);
          if (v !== undefined) this.set({ stream: s.stream }, v);
        }
      },
    });
  const metrics: Omit<ExecutorServiceMetrics, 'retainStreams'> = {
    requests: new Counter({
      name: 'fulcrum_executor_requests_total',
      help: 'Inference requests answered, by stream and outcome (ok, late: a result after its budget, or the error code)',
      labelNames: ['stream', 'outcome'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'fulcrum_executor_request_latency_seconds',
      help: 'Arrival to result of answered requests, device seconds',
      labelNames: ['stream'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'fulcrum_executor_queue_depth',
      help: 'Requests waiting per stream',
      labelNames: ['stream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of status()?.streams ?? []) this.set({ stream: s.stream }, s.queueDepth);
      },
    }),
    trainThroughput: new Gauge({
      name: 'fulcrum_executor_train_throughput_samples_per_second',
      help: 'Training throughput since the plan was applied, samples per device second',
      registers: [registry],
      collect() {
        this.set(status()?.trainThroughputSamplesPerS ?? 0);
      },
    }),
    powerBudget: planGauge('fulcrum_executor_power_budget_watts', 'Power budget P of the problem the running plan answers, watts', (p) => p.powerBudgetW),
    predictedPower: planGauge('fulcrum_executor_predicted_power_watts', 'Board power the running plan was predicted to draw, watts', (p) => p.predictedPowerW),
    predictedTrainThroughput: planGauge(
      'fulcrum_executor_predicted_train_throughput_samples_per_second',
      'Training throughput the running plan was predicted to reach, samples per second',
      (p) => p.predictedTrainThroughputSamplesPerS,
    ),
    latencyBudget: streamGauge('fulcrum_executor_latency_budget_seconds', 'Latency budget L of each stream of the running plan, seconds', (s) => s.latencyBudgetS),
    latencyP99: streamGauge(
      'fulcrum_executor_request_latency_p99_seconds',
      "p99 latency of each stream's answered requests since the plan was applied (the executor's own recorder, as in Status), seconds",
      (s) => (s.latency.count > 0 ? s.latency.p99S : undefined),
    ),
    minibatches: new Counter({ name: 'fulcrum_executor_minibatches_total', help: 'Minibatches run, by kind (train, infer, measure)', labelNames: ['kind'], registers: [registry] }),
    plansApplied: new Counter({ name: 'fulcrum_executor_plans_applied_total', help: 'Plans that took effect', registers: [registry] }),
    measurements: new Counter({ name: 'fulcrum_executor_measurements_total', help: 'RunMeasurement calls by outcome', labelNames: ['outcome'], registers: [registry] }),
    controllerFailures: new Counter({ name: 'fulcrum_executor_controller_failures_total', help: 'Failed device-controller calls (each try), by method', labelNames: ['method'], registers: [registry] }),
  };
  const retainStreams = async (current: readonly string[]): Promise<void> => {
    const keep = new Set([...current, '_unknown']);
    const [requests, latency] = await Promise.all([metrics.requests.get(), metrics.latency.get()]);
    const streams = new Set([...requests.values, ...latency.values].map((v) => String(v.labels['stream'])));
    if (streams.size <= STREAM_LABEL_LIMIT) return;
    for (const v of requests.values) {
      const stream = String(v.labels['stream']);
      if (!keep.has(stream)) metrics.requests.remove({ stream, outcome: String(v.labels['outcome']) });
    }
    for (const stream of streams) if (!keep.has(stream)) metrics.latency.remove({ stream });
  };
  return { ...metrics, retainStreams };
}
