/**
 * The profiler's gRPC adapter (`fulcrum.profiler.v1.Profiler`): requests to the `Profiler`
 * library through the one conversion module of `@fulcrum/proto`, results back.
 */
import { isValidationError } from '@fulcrum/core';
import { costToProto, profileRequestFromProto, profileResultToProto, profiler, profilesQueryFromProto } from '@fulcrum/proto';
import { callSignal, unary } from '@fulcrum/runtime/internal';
import type { Logger } from 'pino';
import type { Profiler } from './profiler.js';

export const PROFILER_SERVICE_NAME = 'fulcrum.profiler.v1.Profiler';

/** The library names a workload `workloads[i].workload`; the proto request nests it as `workload.name`. */
function protoField(err: unknown): unknown {
  if (!isValidationError(err)) return err;
  const m = /^(workloads\[\d+\])\.(workload|kind)$/.exec(err.field);
  if (!m) return err;
  return err.renamed(`${m[1]}.workload.${m[2] === 'workload' ? 'name' : 'kind'}`);
}

/** The gRPC implementation over a profiler. */
export function profilerGrpcImplementation(lib: Profiler, logger?: Logger): profiler.ProfilerServer {
  return {
    profile: unary(async (req: profiler.ProfileRequest, call) => {
      // The caller cancelling (or its deadline passing) stops the profiling and the measurement.
      const cancel = callSignal(call);
      try {
        const outcome = await lib.profile(profileRequestFromProto(req), { signal: cancel.signal });
        return profiler.ProfileResponse.fromPartial({ results: outcome.results.map(profileResultToProto), cost: costToProto(outcome.cost) });
      } catch (err) {
        throw protoField(err);
      } finally {
        cancel.dispose();
      }
    }, logger),
    getProfiles: unary(async (req: profiler.GetProfilesRequest) => {
      const page = await lib.getProfiles(profilesQueryFromProto(req));
      return profiler.GetProfilesResponse.fromPartial({ results: page.results.map(profileResultToProto), nextPageToken: page.nextPageToken });
    }, logger),
  };
}

