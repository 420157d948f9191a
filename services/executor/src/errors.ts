/**
 * Every accepted request ends in a result or in one of these errors; none is dropped silently.
 * The codes map one to one onto gRPC status codes (see `grpcStatusName`) for the service adapter,
 * and onto the bus's wire codes (`InferenceErrorCode` of @fulcrum/bus: `worker` and `not-running`
 * become `unavailable`, `unknown-stream` becomes `shed`) for requests over NATS.
 */
export type InferenceFailureCode =
  /** It missed its latency budget before its minibatch could start (only with `expiredRequests: 'reject'`). */
  | 'deadline'
  /** Refused at arrival: its stream's queue was full. */
  | 'shed'
  /** The executor stopped before serving it. */
  | 'shutdown'
  /** The worker running its minibatch crashed or failed. */
  | 'worker'
  /** No such stream in the running problem. */
  | 'unknown-stream'
  /** No plan applied yet. */
  | 'not-running'
  /** Its input cannot be fed to the model (wrong size, names the model lacks); the rest of its minibatch is served. */
  | 'invalid-input';

export const INFERENCE_FAILURE_CODES: readonly InferenceFailureCode[] = ['deadline', 'shed', 'shutdown', 'worker', 'unknown-stream', 'not-running', 'invalid-input'];

export class InferenceError extends Error {
  override readonly name = 'InferenceError';
  readonly code: InferenceFailureCode;
  readonly stream: string;
  readonly requestId: string;

  constructor(code: InferenceFailureCode, stream: string, requestId: string, message: string) {
    super(message);
    this.code = code;
    this.stream = stream;
    this.requestId = requestId;
  }
}

export function isInferenceError(err: unknown): err is InferenceError {
  return err instanceof InferenceError;
}

/** The gRPC status an adapter should answer with (executor.proto, `Infer`). */
export function grpcStatusName(code: InferenceFailureCode): string {
  switch (code) {
    case 'deadline':
      return 'DEADLINE_EXCEEDED';
    case 'shed':
      return 'RESOURCE_EXHAUSTED';
    case 'shutdown':
    case 'not-running':
      return 'UNAVAILABLE';
    case 'worker':
      return 'INTERNAL';
    case 'unknown-stream':
      return 'NOT_FOUND';
    case 'invalid-input':
      return 'INVALID_ARGUMENT';
  }
}

/** A worker process died (or its pipe broke) while or before running a minibatch. */
export class WorkerCrashedError extends Error {
  override readonly name = 'WorkerCrashedError';
  readonly runner: string;
  /** The workload the worker drives, when it drives one. */
  readonly workload: string | undefined;
  /** The interpreter it ran, when it is a Python worker. */
  readonly python: string | undefined;
  /** It died before it answered its first request: the interpreter itself is unusable (no torch, not Python, missing). */
  readonly starting: boolean;
  constructor(runner: string, message: string, details: { workload?: string; python?: string; starting?: boolean } = {}) {
    super(message);
    this.runner = runner;
    this.workload = details.workload;
    this.python = details.python;
    this.starting = details.starting ?? false;
  }
}

/** A workload's own step (its Python `train_step` / `infer` / setup) raised: the message is the worker's. */
export class WorkloadStepError extends Error {
  override readonly name = 'WorkloadStepError';
  constructor(
    readonly workload: string,
    message: string,
  ) {
    super(message);
  }
}
