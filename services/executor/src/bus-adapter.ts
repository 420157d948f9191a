/**
 * The executor on the event bus (@fulcrum/bus, NATS or in-process): it answers inference requests
 * on `fulcrum.<device>.infer.<stream>` (the reply is the result or an explicit error) and publishes
 * what it measures on `arrivals.rate`, `executor.status` and `plan.applied` (its GPU activity goes
 * on `activity`, see activity.ts and node.ts). The one place both the library and the service
 * build these replies and events.
 */
import {
  arrivalsRateSubject,
  executorStatusSubject,
  inferFilter,
  planAppliedSubject,
  type EventBus,
  type InferenceErrorCode as BusErrorCode,
  type InferenceReply,
  type InferenceRequest,
  type InferenceService,
  type PlanAppliedEvent,
} from '@fulcrum/bus';
import type { Logger } from '@fulcrum/runtime';
import { isInferenceError, type InferenceFailureCode } from './errors.js';
import type { Executor, InferOutcome } from './executor.js';
import type { ExecutorEvent, ExecutorEventSink, ExecutorPlan, ExecutorProblem, StreamStatus } from './types.js';

/** The bus's error vocabulary for each executor error code. */
/**
 * One stream's status as both contracts carry it (the bus's `StreamTelemetry`, the Status RPC's
 * `StreamStatus`): its batch, rate, queue, latency percentiles and answered/failed counts.
 */
export function streamSummary(st: StreamStatus) {
  return {
    stream: st.stream,
    batchSize: st.batchSize,
    arrivalRatePerS: st.arrivalRatePerS,
    queueDepth: st.queueDepth,
    latencyP50S: st.latency.p50S,
    latencyP99S: st.latency.p99S,
    latencyMaxS: st.latency.maxS,
    completed: st.completed,
    failed: Object.values(st.failed).reduce((a, b) => a + b, 0),
  };
}

export function busErrorCode(code: InferenceFailureCode): BusErrorCode {
  switch (code) {
    case 'deadline':
    case 'shed':
    case 'shutdown':
      return code;
    case 'unknown-stream':
      return 'shed'; // no plan serves this stream (the bus's documented meaning of shed)
    case 'worker':
    case 'not-running':
      return 'unavailable';
    case 'invalid-input':
      return 'invalid';
  }
}

/** One inference request (an `Executor`'s, or an `ExecutorNode`'s that also counts it). */
export type InferenceHandler = (stream: string, input: unknown, requestId: string | undefined) => Promise<InferOutcome>;

/** The bus reply to one request: the result, or the executor's error in the bus's vocabulary. */
export async function inferenceReply(infer: InferenceHandler, stream: string, request: InferenceRequest): Promise<InferenceReply> {
  try {
    const r = await infer(stream, request.input, request.requestId);
    return { requestId: request.requestId, output: r.output, latencyS: r.latencyS, queueS: r.queueS, batchSize: r.batchSize };
  } catch (err) {
    if (isInferenceError(err)) return { requestId: request.requestId, error: { code: busErrorCode(err.code), message: err.message } };
    return { requestId: request.requestId, error: { code: 'internal', message: (err as Error).message } };
  }
}

/**
 * Serves `executor` (an `Executor`, or an inference handler such as `ExecutorNode.infer`) on
 * `fulcrum.<device>.infer.*`. Stop with `service.drain()` before `executor.stop()`.
 */
export function serveInference(executor: Executor | InferenceHandler, bus: EventBus, device: string, options: { queue?: string } = {}): InferenceService {
  const infer: InferenceHandler = typeof executor === 'function' ? executor : (stream, input, requestId) => executor.infer(stream, input, requestId ? { requestId } : {});
  return bus.serve(inferFilter(device), (request, subject) => inferenceReply(infer, subject.stream, request), options.queue ? { queue: options.queue } : {});
}

/** What `plan.applied` carries beyond the executor's event: when, the training workload, the planner's predictions. */
export interface PlanAppliedDetails {
  /** Default: now. */
  readonly appliedAt?: Date | undefined;
  readonly trainWorkload?: string | undefined;
  /** Per stream: the predicted latency bound and utilisation (0 or absent: not sent). */
  readonly streams?: Readonly<Record<string, { readonly predictedLatencyS?: number; readonly utilization?: number }>> | undefined;
  /** 0 or absent: not sent. */
  readonly predictedPowerW?: number | undefined;
  readonly feasible?: boolean | undefined;
}

/** The `plan.applied` event of a plan taking effect; undefined for a plan without a power mode (a host run is not a device plan). */
export function planAppliedEvent(plan: ExecutorPlan, problem: ExecutorProblem, details: PlanAppliedDetails = {}): PlanAppliedEvent | undefined {
  if (!plan.mode) return undefined;
  return {
    planId: plan.planId,
    appliedAt: (details.appliedAt ?? new Date()).toISOString(),
    mode: plan.mode,
    streams: problem.streams.map((s) => {
      const p = details.streams?.[s.name];
      return {
        stream: s.name,
        batchSize: plan.batchSizes[s.name] ?? 1,
        arrivalRatePerS: s.arrivalRatePerS,
        latencyBudgetS: s.latencyBudgetS,
        ...(p?.predictedLatencyS ? { predictedLatencyS: p.predictedLatencyS } : {}),
        ...(p?.utilization ? { utilization: p.utilization } : {}),
      };
    }),
    ...(details.trainWorkload ? { trainWorkload: details.trainWorkload } : {}),
    trainBatchSize: problem.trainBatchSize,
    ...(plan.predictedTrainThroughputSamplesPerS !== undefined ? { predictedTrainThroughputSamplesPerS: plan.predictedTrainThroughputSamplesPerS } : {}),
    ...(details.predictedPowerW ? { predictedPowerW: details.predictedPowerW } : {}),
    ...(details.feasible !== undefined ? { feasible: details.feasible } : {}),
    ...(plan.strategy ? { strategy: plan.strategy } : {}),
  };
}

export interface BusEventSinkOptions {
  readonly logger?: Logger | undefined;
  /** The training workload named in `plan.applied` (when `planDetails` does not name one). */
  readonly trainWorkload?: string | undefined;
  /** More for `plan.applied` about the plan taking effect (the node's record of it). */
  readonly planDetails?: ((plan: ExecutorPlan) => PlanAppliedDetails | undefined) | undefined;
}

/**
 * An events sink that publishes on the bus. Publishing never blocks the GPU loop: failures (NATS
 * away) are logged and counted, and the executor keeps serving with the plan it has.
 */
export function busEventSink(bus: EventBus, device: string, options: BusEventSinkOptions = {}): ExecutorEventSink & { failures(): number } {
  let failures = 0;
  const wall = (): string => new Date().toISOString();
  const fail = (err: Error, type: string): void => {
    failures++;
    options.logger?.warn({ err: err.message, event: type }, 'publishing on the bus failed');
  };
  const send = (p: Promise<unknown>, type: string): void => {
    p.catch((err: Error) => fail(err, type));
  };
  const publish = (e: ExecutorEvent): void => {
    try {
      publishOne(e);
    } catch (err) {
      fail(err as Error, e.type);
    }
  };
  const publishOne = (e: ExecutorEvent): void => {
    switch (e.type) {
      case 'arrivals.rate':
        send(
          bus.publish(arrivalsRateSubject(device), {
            measuredAt: wall(),
            windowS: e.windowS,
            streams: Object.entries(e.ratesPerS).map(([stream, arrivalRatePerS]) => ({
              stream,
              arrivalRatePerS,
              ...(e.plannedRatesPerS[stream] !== undefined ? { plannedRatePerS: e.plannedRatesPerS[stream] } : {}),
            })),
            ...(e.replanRequested ? { replanRequested: true } : {}),
          }),
          e.type,
        );
        return;
      case 'telemetry': {
        const s = e.status;
        send(
          bus.publish(executorStatusSubject(device), {
            measuredAt: wall(),
            ...(s.plan?.mode ? { mode: s.plan.mode } : {}),
            ...(s.plan ? { planId: s.plan.planId } : {}),
            trainThroughputSamplesPerS: s.trainThroughputSamplesPerS,
            utilization: Math.min(1, s.utilization),
            streams: s.streams.map(streamSummary),
            trainTimeS: s.measuredTrainTimeS,
            trainLoadS: s.measuredTrainLoadS,
            ...(s.trainLoss !== undefined ? { trainLoss: s.trainLoss } : {}),
            ...(s.trainStep !== undefined ? { trainStep: s.trainStep } : {}),
          }),
          e.type,
        );
        return;
      }
      case 'plan.applied': {
        const details = options.planDetails?.(e.plan) ?? {};
        const event = planAppliedEvent(e.plan, e.problem, { ...details, trainWorkload: details.trainWorkload ?? options.trainWorkload });
        if (event) send(bus.publish(planAppliedSubject(device), event), e.type);
        return;
      }
      default:
        return;
    }
  };
  return { publish, failures: () => failures };
}
