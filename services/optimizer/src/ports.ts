/**
 * The optimizer's peers as ports: the profiler (Profile, GetProfiles) and the executor
 * (ApplyPlan). gRPC clients implement them for the service; an embedding program can pass the
 * profiler library itself (`Profiler` from `@fulcrum/profiler` has this shape).
 */
import { status } from '@grpc/grpc-js';
import type { Problem } from '@fulcrum/core';
import { executor, profiler } from '@fulcrum/proto';
import { GrpcStatusError } from '@fulcrum/runtime';
import {
  callPeer,
  fromProtoKind,
  fromProtoResult,
  peerChannel,
  reconnectingClient,
  toProtoKind,
  type PeerCallContext,
  type PeerConfig,
  type ProfileCost,
  type ProfileInput,
  type ProfilesPage,
  type ProfilesQuery,
  type RetryConfig,
} from '@fulcrum/profiler';
import type { ProfileResult } from '@fulcrum/store';
import type { Logger } from 'pino';
import { planToProto, problemToProto } from './convert.js';
import type { OptimizerPlan } from './plans.js';

export interface ProfilerPort {
  profile(input: ProfileInput): Promise<{ readonly results: readonly ProfileResult[]; readonly cost: ProfileCost }>;
  getProfiles(query: ProfilesQuery): Promise<ProfilesPage>;
  close?(): void;
}

export interface PlanExecutorPort {
  applyPlan(problem: Problem, plan: OptimizerPlan): Promise<void>;
  close?(): void;
}

export interface GrpcPortOptions {
  readonly config: PeerConfig;
  readonly retry: RetryConfig;
  readonly logger?: Logger | undefined;
  readonly onRetry?: ((peer: string) => void) | undefined;
}

/** The profiler service over gRPC (bounded retry on UNAVAILABLE, then UNAVAILABLE naming it). */
export function grpcProfiler(options: GrpcPortOptions): ProfilerPort {
  const { credentials, options: channelOptions } = peerChannel(options.config);
  const clients = reconnectingClient(() => new profiler.ProfilerClient(options.config.address, credentials, channelOptions));
  const ctx: PeerCallContext = { peer: 'profiler', address: options.config.address, retry: options.retry, logger: options.logger, onRetry: options.onRetry, reconnect: clients.reconnect };
  const timeoutMs = options.config.timeoutS * 1000;
  return {
    async profile(input) {
      const req = profiler.ProfileRequest.fromPartial({
        device: input.device ?? '',
        mode: input.mode,
        workloads: input.workloads.map((w) => ({ workload: { name: w.workload, kind: toProtoKind(w.kind) }, batchSizes: [...w.batchSizes] })),
        warmupMinibatches: input.warmupMinibatches ?? 0,
        measuredMinibatches: input.measuredMinibatches ?? 0,
        settleS: input.settleS ?? 0,
      });
      const res = await callPeer<profiler.ProfileResponse>(ctx, 'Profile', timeoutMs, (md, o, cb) => clients.current.profile(req, md, o, cb));
      const cost = res.cost ?? { modesProfiled: 0, modesReused: 0, profilingSeconds: 0 };
      return { results: res.results.map(fromProtoResult), cost: { modesProfiled: cost.modesProfiled, modesReused: cost.modesReused, profilingSeconds: cost.profilingSeconds } };
    },
    async getProfiles(query) {
      const req = profiler.GetProfilesRequest.fromPartial({
        device: query.device ?? '',
        softwareStack: query.softwareStack ?? '',
        workload: query.workload ?? '',
        kind: query.kind ? toProtoKind(query.kind) : 0,
        batchSize: query.batchSize,
        mode: query.mode,
        pageSize: query.pageSize ?? 0,
        pageToken: query.pageToken ?? '',
      });
      const res = await callPeer<profiler.GetProfilesResponse>(ctx, 'GetProfiles', 30_000, (md, o, cb) => clients.current.getProfiles(req, md, o, cb));
      for (const r of res.results) if (!fromProtoKind(r.kind)) throw new GrpcStatusError(status.INTERNAL, `profiler at ${ctx.address} returned a result without a workload kind`);
      return { results: res.results.map(fromProtoResult), nextPageToken: res.nextPageToken };
    },
    close: () => clients.close(),
  };
}

/** The executor's ApplyPlan over gRPC. */
export function grpcPlanExecutor(options: GrpcPortOptions): PlanExecutorPort {
  const { credentials, options: channelOptions } = peerChannel(options.config);
  const clients = reconnectingClient(() => new executor.ExecutorClient(options.config.address, credentials, channelOptions));
  const ctx: PeerCallContext = { peer: 'executor', address: options.config.address, retry: options.retry, logger: options.logger, onRetry: options.onRetry, reconnect: clients.reconnect };
  const timeoutMs = options.config.timeoutS * 1000;
  return {
    async applyPlan(problem, plan) {
      const req = executor.ApplyPlanRequest.fromPartial({ problem: problemToProto(problem), plan: planToProto(plan) });
      await callPeer<executor.ApplyPlanResponse>(ctx, 'ApplyPlan', timeoutMs, (md, o, cb) => clients.current.applyPlan(req, md, o, cb));
    },
    close: () => clients.close(),
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
