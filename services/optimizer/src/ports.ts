/**
 * The optimizer's peers as ports: the profiler (Profile, GetProfiles) and the executor
 * (ApplyPlan). gRPC clients (runtime's `GrpcConnection`) implement them for the service; an
 * embedding program can pass the profiler library itself (`Profiler` from `@fulcrum/profiler`
 * has this shape).
 */
import { status, type Client } from '@grpc/grpc-js';
import { requireToken, type Problem, type ProfileRequest, type ProfileResult, type ProfilesPage, type ProfilesQuery } from '@fulcrum/core';
import {
  executor,
  costFromProto,
  frontToProto,
  planToProto,
  problemToProto,
  profileRequestToProto,
  profileResultFromProto,
  profiler,
  profilesQueryToProto,
  type Cost,
  type FrontModeRecord,
} from '@fulcrum/proto';
import { GrpcConnection, GrpcStatusError, errorField, isServiceError } from '@fulcrum/runtime';
import { connectionOptions, type PeerConfig } from '@fulcrum/runtime/internal';
import type { Logger } from 'pino';
import type { OptimizerPlan } from './plans.js';

export interface ProfilerPort {
  /** `signal` cancels the Profile call in flight (the profiler stops measuring). */
  profile(input: ProfileRequest, options?: { readonly signal?: AbortSignal | undefined }): Promise<{ readonly results: readonly ProfileResult[]; readonly cost: Cost }>;
  getProfiles(query: ProfilesQuery): Promise<ProfilesPage>;
  close?(): void;
}

export interface PlanExecutorPort {
  /** Applies the plan (with the front it was chosen among, for the executor's local re-plans); resolves with the board it now runs on. */
  applyPlan(problem: Problem, plan: OptimizerPlan, front?: readonly FrontModeRecord[]): Promise<{ readonly board: string }>;
  close?(): void;
}

export interface GrpcPortOptions {
  readonly config: PeerConfig;
  readonly logger?: Logger | undefined;
  /** Called once per retry (metrics). */
  readonly onRetry?: ((peer: string) => void) | undefined;
}

function connect<C extends Client>(Ctor: new (...args: never[]) => C, peer: string, options: GrpcPortOptions): GrpcConnection<C> {
  return new GrpcConnection(Ctor as never, {
    ...connectionOptions(peer, options.config),
    retryOn: [status.UNAVAILABLE, status.CANCELLED],
    logger: options.logger,
    onRetry: () => options.onRetry?.(peer),
  });
}

/**
 * The profiler refusing a request the optimizer built (INVALID_ARGUMENT on `workloads[0].batchSizes[0]`,
 * a field of the Profile request, not of the caller's problem): FAILED_PRECONDITION naming the peer,
 * with the profiler's field in the message only — the Solve's caller never sent that field, so no
 * error detail points at it (e.g. a profiler whose workloads or limits differ from the optimizer's).
 */
function refusedRequest(err: unknown, conn: { readonly peer: string; readonly address: string }): unknown {
  if (!isServiceError(err) || err.code !== status.INVALID_ARGUMENT) return err;
  const field = errorField(err);
  const details = err.details.length > 300 ? `${err.details.slice(0, 300)}…` : err.details;
  return new GrpcStatusError(status.FAILED_PRECONDITION, `${conn.peer} at ${conn.address} refused the Profile request this optimizer built${field ? ` (its ${field})` : ''}: ${details}; do the profiler and the optimizer have the same workloads and limits?`);
}

/** The profiler service over gRPC (bounded retry on UNAVAILABLE, then UNAVAILABLE naming it). */
export function grpcProfiler(options: GrpcPortOptions): ProfilerPort {
  const conn = connect(profiler.ProfilerClient, 'profiler', options);
  return {
    async profile(input, options = {}) {
      const req = profileRequestToProto(input);
      let res: profiler.ProfileResponse;
      try {
        res = await conn.unary<profiler.ProfileResponse>('Profile', (c, md, o, cb) => c.profile(req, md, o, cb), { signal: options.signal });
      } catch (err) {
        throw refusedRequest(err, conn);
      }
      return conn.decode('Profile', () => ({ results: res.results.map((r, i) => profileResultFromProto(r, `results[${i}]`)), cost: costFromProto(res.cost, 'cost') }));
    },
    async getProfiles(query) {
      const req = profilesQueryToProto(query);
      const res = await conn.unary<profiler.GetProfilesResponse>('GetProfiles', (c, md, o, cb) => c.getProfiles(req, md, o, cb), { timeoutMs: 30_000 });
      return conn.decode('GetProfiles', () => ({ results: res.results.map((r, i) => profileResultFromProto(r, `results[${i}]`)), nextPageToken: res.nextPageToken }));
    },
    close: () => conn.close(),
  };
}

/** The executor's ApplyPlan over gRPC. */
export function grpcPlanExecutor(options: GrpcPortOptions): PlanExecutorPort {
  const conn = connect(executor.ExecutorClient, 'executor', options);
  return {
    async applyPlan(problem, plan, front = []) {
      const req = executor.ApplyPlanRequest.fromPartial({ problem: problemToProto(problem), plan: planToProto(plan), front: frontToProto(front) });
      const res = await conn.unary<executor.ApplyPlanResponse>('ApplyPlan', (c, md, o, cb) => c.applyPlan(req, md, o, cb));
      return { board: conn.decode('ApplyPlan', () => requireToken('board', res.board, 'a board id')) };
    },
    close: () => conn.close(),
  };
}

/** Every stored result matching a query, all pages. */
export async function allProfiles(port: ProfilerPort, query: ProfilesQuery): Promise<ProfileResult[]> {
  const out: ProfileResult[] = [];
  let pageToken: string | undefined;
  do {
    const page = await port.getProfiles({ ...query, pageSize: 1000, pageToken });
    out.push(...page.results);
    pageToken = page.nextPageToken || undefined;
  } while (pageToken);
  return out;
}
