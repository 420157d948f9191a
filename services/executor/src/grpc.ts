/**
 * The executor's gRPC adapter (`fulcrum.executor.v1.Executor`): requests to the `ExecutorNode`
 * library through the one conversion module of `@fulcrum/proto`, results back; the executor's
 * inference errors as gRPC statuses (executor.proto, `Infer`).
 */
import { status } from '@grpc/grpc-js';
import { ValidationError, isValidationError } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { constraintToProto, executor as pb, frontFromProto, planFromProto, problemFromProto } from '@fulcrum/proto';
import { measurementOutcomeToProto, measurementRunFromProto } from '@fulcrum/proto/internal';
import { MAX_REQUEST_ID_CHARS } from '@fulcrum/bus';
import { GrpcStatusError, type Logger } from '@fulcrum/runtime';
import { callSignal, unary } from '@fulcrum/runtime/internal';
import { streamSummary } from './bus-adapter.js';
import { grpcStatusName, isInferenceError, type InferenceError } from './errors.js';
import type { ExecutorNode, ExecutorNodeState, ExecutorNodeStatus } from './node.js';

export const EXECUTOR_SERVICE_NAME = 'fulcrum.executor.v1.Executor';

const STATES: Record<ExecutorNodeState, pb.State> = {
  idle: pb.State.STATE_IDLE,
  running: pb.State.STATE_RUNNING,
  measuring: pb.State.STATE_MEASURING,
  draining: pb.State.STATE_DRAINING,
  stopped: pb.State.STATE_IDLE,
};

/** The node's status as the Status RPC reports it. */
export function statusToProto(s: ExecutorNodeStatus, where: { readonly board: string; readonly device: string }): pb.StatusResponse {
  const e = s.executor;
  const replan = { replanOwner: s.replanOwner, localReplans: s.localReplans };
  if (!e) return pb.StatusResponse.fromPartial({ state: STATES[s.state], board: where.board, device: where.device, ...replan });
  return pb.StatusResponse.fromPartial({
    state: STATES[s.state],
    board: where.board,
    device: where.device,
    ...replan,
    ...(s.applied ? { plan: s.applied.record, planAppliedAt: s.applied.appliedAt, powerBudgetW: s.applied.problem.powerBudgetW, powerSemantics: s.applied.problem.powerSemantics } : {}),
    streams: e.streams.map((st) => ({ ...streamSummary(st), latencyBudgetS: st.latencyBudgetS, late: st.late, plannedRatePerS: st.plannedRatePerS })),
    workerCrashes: e.workerCrashes,
    trainThroughputSamplesPerS: e.trainThroughputSamplesPerS,
    trainMinibatches: e.trainMinibatches,
    utilization: Math.min(1, e.utilization),
    trainTimeS: e.measuredTrainTimeS,
    trainLoadS: e.measuredTrainLoadS,
    ...(e.trainLoss !== undefined ? { trainLoss: e.trainLoss } : {}),
    ...(e.trainStep !== undefined ? { trainStep: e.trainStep } : {}),
    verdict: {
      feasible: s.violations.length === 0,
      violations: s.violations.map((v) => ({ constraint: constraintToProto(v.constraint), stream: v.stream ?? '', value: v.value, limit: v.limit })),
    },
  });
}

/** The executor's error codes as gRPC statuses (executor.proto, Infer). */
function inferStatus(err: InferenceError): GrpcStatusError {
  const code = status[grpcStatusName(err.code) as keyof typeof status] as status;
  return new GrpcStatusError(code, err.message, err.code === 'unknown-stream' ? 'stream' : err.code === 'invalid-input' ? 'input' : '');
}

function decodeInput(req: pb.InferRequest): unknown {
  if (req.input.length === 0) return undefined;
  const type = req.contentType || 'application/json';
  if (type === 'application/octet-stream') return new Uint8Array(req.input);
  if (type !== 'application/json') throw new ValidationError('contentType', `must be application/json or application/octet-stream, got ${describeValue(req.contentType)}`);
  try {
    return JSON.parse(req.input.toString('utf8'));
  } catch (err) {
    throw new ValidationError('input', `is not JSON: ${(err as Error).message}`);
  }
}

/** The node names the measured workload `workload`; the proto request nests it as `workload.name`. */
function protoField(err: unknown): unknown {
  return isValidationError(err) && err.field === 'workload' ? err.renamed('workload.name') : err;
}

/** The gRPC implementation over a node. */
export function executorGrpcImplementation(node: ExecutorNode, logger?: Logger): pb.ExecutorServer {
  return {
    applyPlan: unary(async (req: pb.ApplyPlanRequest) => {
      const problem = problemFromProto(req.problem, { catalog: node.catalog, ...(node.modelDevice ? { defaultDevice: node.modelDevice } : {}) });
      node.checkProblem(problem);
      const { plan, proto } = planFromProto(req.plan, problem);
      const applied = await node.applyPlan(problem, plan, { record: proto, front: frontFromProto(req.front, problem) });
      return pb.ApplyPlanResponse.fromPartial({ planId: applied.plan.planId, mode: applied.record.mode, appliedAt: applied.appliedAt, board: node.board });
    }, logger),
    status: unary(() => statusToProto(node.status(), node), logger),
    runMeasurement: unary(async (req: pb.RunMeasurementRequest, call) => {
      // The caller cancelling (or its deadline passing) stops the measurement and frees the GPU.
      const cancel = callSignal(call);
      try {
        return measurementOutcomeToProto(await node.measure(measurementRunFromProto(req), { signal: cancel.signal }));
      } catch (err) {
        throw protoField(err);
      } finally {
        cancel.dispose();
      }
    }, logger),
    infer: unary(async (req: pb.InferRequest) => {
      if (!req.stream) throw new ValidationError('stream', 'is required');
      // The same bound as on the bus: the id is echoed back, so it is not a way to grow replies.
      if (req.requestId.length > MAX_REQUEST_ID_CHARS) throw new ValidationError('requestId', `must be at most ${MAX_REQUEST_ID_CHARS} characters, got ${req.requestId.length}`);
      const input = decodeInput(req);
      try {
        const r = await node.infer(req.stream, input, req.requestId || undefined);
        return pb.InferResponse.fromPartial({
          requestId: r.requestId,
          output: Buffer.from(JSON.stringify(r.output ?? null)),
          contentType: 'application/json',
          latencyS: r.latencyS,
          queueS: r.queueS,
          batchSize: r.batchSize,
        });
      } catch (err) {
        if (isInferenceError(err)) throw inferStatus(err);
        throw err;
      }
    }, logger),
  };
}
