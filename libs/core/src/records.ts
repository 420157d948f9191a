/**
 * Records the services exchange, in domain form (the proto contracts carry them on the wire;
 * `@fulcrum/proto`'s conversion module maps each to and from its message).
 */
import type { PowerMode } from './power-mode.js';
import type { WorkloadKind } from './workloads.js';
import { ValidationError, describeValue } from './errors.js';

/** What identifies one profile result: device, software stack, workload, kind, batch size and mode. */
export interface ProfileKey {
  readonly device: string;
  /** Software stack version (JetPack / framework / model build); stacks are never mixed. */
  readonly softwareStack: string;
  readonly workload: string;
  readonly kind: WorkloadKind;
  /** Minibatch size, samples. */
  readonly batchSize: number;
  readonly mode: PowerMode;
}

/**
 * One profiled (mode, workload, batch size) measurement. Key: (device, softwareStack, workload,
 * kind, batchSize, mode).
 */
export interface ProfileResult extends ProfileKey, MeasurementUncertainty {
  /** Mean time per minibatch over the measured window, milliseconds. */
  readonly timeMs: number;
  /** Mean board power over the measured window, watts. */
  readonly powerW: number;
  /** When the measured window ended (RFC 3339). */
  readonly measuredAt: string;
  /**
   * Measured minibatches averaged into timeMs (always known here). timeSeMs: the measured minibatch
   * times' standard deviation over √samples; powerSeW: the window's power samples' over √n.
   * For a result combined from several windows (`windows`), the sum of their samples.
   */
  readonly samples: number;
  /**
   * Measurement windows combined into this result (re-measures, issue 16): the samples-weighted
   * mean of the windows, with the standard errors of that mean. Absent: one window.
   */
  readonly windows?: number | undefined;
  /**
   * Σwᵢ² over the combined windows, wᵢ each window's share of `samples` (1/windows for equal
   * windows; a re-measure's longer window weighs more). The margins scale the part of the error a
   * window's samples cannot show (thermal state) by it (SPEC §4). Absent: the windows count as
   * equal. Only with `windows` ≥ 2.
   */
  readonly windowWeightsSquared?: number | undefined;
}

/**
 * Σwᵢ² of a result's (or measurement's) windows: what it carries, else equal windows (1/windows;
 * 1 for one window).
 */
export function windowWeightsSquaredOf(r: { readonly windows?: number | undefined; readonly windowWeightsSquared?: number | undefined }): number {
  return r.windowWeightsSquared ?? 1 / (r.windows ?? 1);
}

/**
 * Measured minibatches of a re-measure's window (SPEC §4): the protocol's `remeasureMinibatches`,
 * else 4 × its first window's — a re-measure is taken where a margin decides, and a window's sample
 * error shrinks as 1/√n (its thermal part does not).
 */
export function remeasureMinibatchesOf(protocol: { readonly measuredMinibatches: number; readonly remeasureMinibatches?: number | undefined }): number {
  return protocol.remeasureMinibatches ?? 4 * protocol.measuredMinibatches;
}

/**
 * `value` as the Σwᵢ² of `windows` combined windows: in [1/windows, 1] (equal windows give the
 * least; a tolerance of 1e-9 for rounding). ValidationError(field) otherwise.
 */
export function requireWindowWeightsSquared(field: string, value: unknown, windows: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value > 1 + 1e-9 || value < 1 / windows - 1e-9) {
    throw new ValidationError(field, `must be Σwᵢ² of ${windows} windows' weights, in [1/${windows}, 1], got ${describeValue(value)}`);
  }
  return Math.min(1, Math.max(1 / windows, value));
}

/**
 * How sure a measurement is, where its source says (issue 16): the minibatches measured and the
 * standard errors of its time (ms) and power (W). Each is undefined where unknown.
 */
export interface MeasurementUncertainty {
  readonly samples?: number | undefined;
  readonly timeSeMs?: number | undefined;
  readonly powerSeW?: number | undefined;
}

/**
 * The strategy of a plan a board made by itself, from the front of its last plan, because no new
 * plan came while the rates had moved (SPEC §6; the executor makes it, the optimizer recognises it).
 */
export const LOCAL_FRONT_STRATEGY = 'local-front';

/** What a board runs: the power mode, a batch size per stream, and what the planner predicted. */
export interface RunPlan {
  readonly planId: string;
  readonly mode?: PowerMode | undefined;
  /** bk per stream name; a stream not named runs at batch size 1. */
  readonly batchSizes: Readonly<Record<string, number>>;
  /** Predicted tT(m), seconds. */
  readonly trainTimeS?: number | undefined;
  /** Predicted tI(m, bk), seconds, per stream name. */
  readonly inferTimeS?: Readonly<Record<string, number>> | undefined;
  readonly predictedTrainThroughputSamplesPerS?: number | undefined;
  /** Which strategy produced it, e.g. "als", "gmd", "manual". */
  readonly strategy?: string | undefined;
}

/** Narrows a query of stored results; every field is optional and they combine with AND. */
export interface ProfileFilter {
  readonly device?: string | undefined;
  readonly softwareStack?: string | undefined;
  readonly workload?: string | undefined;
  readonly kind?: WorkloadKind | undefined;
  readonly batchSize?: number | undefined;
  readonly mode?: PowerMode | undefined;
}

/** One page of stored results (`GetProfiles`). */
export interface ProfilesQuery extends ProfileFilter {
  /** At most this many results; absent or 0: 100; at most 1000. */
  readonly pageSize?: number | undefined;
  /** `nextPageToken` of the previous page. */
  readonly pageToken?: string | undefined;
}

export interface ProfilesPage {
  readonly results: readonly ProfileResult[];
  /** Empty when there are no more results. */
  readonly nextPageToken: string;
}

/** One workload of a profile request and the batch sizes to measure it at. */
export interface ProfileWorkload {
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSizes: readonly number[];
}

/** `Profile`: one mode, some (workload, batch sizes); absent protocol fields take the profiler's configured values. */
export interface ProfileRequest {
  /** Device id; empty or absent: the controller's device. */
  readonly device?: string | undefined;
  readonly mode: PowerMode;
  readonly workloads: readonly ProfileWorkload[];
  readonly warmupMinibatches?: number | undefined;
  readonly measuredMinibatches?: number | undefined;
  readonly settleS?: number | undefined;
  /**
   * Measure the stored mode again (a fresh window, combined into the stored results) instead of
   * answering from the store; see the profiler's `Profile` RPC for when it does.
   */
  readonly remeasure?: boolean | undefined;
}

/**
 * A software stack names the board's stack, and for a user's workload folder also that folder's
 * content: `<board stack>#<workload>@<hash12>`. Profiles of a changed model get a new stack and
 * are never mixed with the old ones; `stackBase` is the board's part.
 */
export const WORKLOAD_STACK_SEPARATOR = '#';

/** `<base>#<tag>` (tag: `<workload>@<hash12>`), or `base` when there is no tag. */
export function workloadStack(base: string, tag: string | undefined): string {
  return tag ? `${stackBase(base)}${WORKLOAD_STACK_SEPARATOR}${tag}` : base;
}

/** The board's part of a software stack (before `#`). */
export function stackBase(stack: string): string {
  const i = stack.indexOf(WORKLOAD_STACK_SEPARATOR);
  return i < 0 ? stack : stack.slice(0, i);
}

/** The workload folder's part of a software stack (after `#`), if any. */
export function stackTag(stack: string): string | undefined {
  const i = stack.indexOf(WORKLOAD_STACK_SEPARATOR);
  return i < 0 ? undefined : stack.slice(i + 1);
}
