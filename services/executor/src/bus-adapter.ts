/**
 * The executor on the event bus (@fulcrum/bus, NATS or in-process): it answers inference requests
 * on `fulcrum.<device>.infer.<stream>` (the reply is the result or an explicit error) and publishes
 * what it measures on `arrivals.rate`, `executor.status` and `plan.applied` (its GPU activity goes
 * on `activity`, see grpc-service.ts).
 */
import {
  arrivalsRateSubject,
  executorStatusSubject,
  inferFilter,
  planAppliedSubject,
  type EventBus,
  type InferenceErrorCode as BusErrorCode,
  type InferenceReply,
  type InferenceService,
} from '@fulcrum/bus';
import type { Logger } from '@fulcrum/runtime';
import { isInferenceError, type InferenceErrorCode } from './errors.js';
import type { Executor } from './executor.js';
import type { ExecutorEvent, ExecutorEventSink } from './types.js';

/** The bus's error vocabulary for each executor error code. */
export function busErrorCode(code: InferenceErrorCode): BusErrorCode {
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
  }
}

/** Serves `executor` on `fulcrum.<device>.infer.*`. Stop with `service.drain()` before `executor.stop()`. */
export function serveInference(executor: Executor, bus: EventBus, device: string, options: { queue?: string } = {}): InferenceService {
  return bus.serve(
    inferFilter(device),
    async (request, subject): Promise<InferenceReply> => {
      try {
        const r = await executor.infer(subject.stream, request.input, { requestId: request.requestId });
        return { requestId: request.requestId, output: r.output, latencyS: r.latencyS, queueS: r.queueS, batchSize: r.batchSize };
      } catch (err) {
        if (isInferenceError(err)) return { requestId: request.requestId, error: { code: busErrorCode(err.code), message: err.message } };
        return { requestId: request.requestId, error: { code: 'internal', message: (err as Error).message } };
      }
    },
    options.queue ? { queue: options.queue } : {},
  );
}

/**
 * An events sink that publishes on the bus. Publishing never blocks the GPU loop: failures (NATS
 * away) are logged and counted, and the executor keeps serving with the plan it has.
 */
export function busEventSink(bus: EventBus, device: string, options: { logger?: Logger; trainWorkload?: string } = {}): ExecutorEventSink & { failures(): number } {
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
            streams: s.streams.map((st) => ({
              stream: st.stream,
              batchSize: st.batchSize,
              arrivalRatePerS: st.arrivalRatePerS,
              queueDepth: st.queueDepth,
              latencyP50S: st.latency.p50S,
              latencyP99S: st.latency.p99S,
              latencyMaxS: st.latency.maxS,
              completed: st.completed,
              failed: Object.values(st.failed).reduce((a, b) => a + b, 0),
            })),
          }),
          e.type,
        );
        return;
      }
      case 'plan.applied':
        // The event carries the power mode; a plan without one (a host run) is not a device plan.
        if (!e.plan.mode) return;
        send(
          bus.publish(planAppliedSubject(device), {
            planId: e.plan.planId,
            appliedAt: wall(),
            mode: e.plan.mode,
            streams: e.problem.streams.map((s) => ({
              stream: s.name,
              batchSize: e.plan.batchSizes[s.name] ?? 1,
              arrivalRatePerS: s.arrivalRatePerS,
              latencyBudgetS: s.latencyBudgetS,
            })),
            trainBatchSize: e.problem.trainBatchSize,
            ...(options.trainWorkload ? { trainWorkload: options.trainWorkload } : {}),
            ...(e.plan.predictedTrainThroughputSamplesPerS !== undefined ? { predictedTrainThroughputSamplesPerS: e.plan.predictedTrainThroughputSamplesPerS } : {}),
            ...(e.plan.strategy ? { strategy: e.plan.strategy } : {}),
          }),
          e.type,
        );
        return;
      default:
        return;
    }
  };
  return { publish, failures: () => failures };
}
