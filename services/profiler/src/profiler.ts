/**
 * The profiler as a library (SPEC §4): profile one power mode for some (workload, kind, batch
 * size) items, reusing every stored result, measuring only what is missing, storing and publishing
 * each new result, and reporting what it cost.
 *
 * Protocol for one mode (see README, "Measurement protocol"):
 *  1. Look every item up in the store under (device, software stack, workload, kind, batch, mode).
 *     All present: answer from the store, cost 0, no switch.
 *  2. Otherwise switch the mode through the controller, which waits the settle time and reads the
 *     knobs back.
 *  3. Per missing item: open the controller's telemetry stream, wait for its first sample, ask the
 *     executor for w warm-up + n measured minibatches, wait for the sample that closes the window,
 *     and average the power samples inside the measured window (fallbacks in power.ts).
 *  4. Store the result (`putIfAbsent`: the first result of a key wins) and publish it on
 *     `fulcrum.<device>.profile.completed`.
 *
 * Re-measurement (`remeasure`, issue 16): when every item is stored, each with fewer than
 * MAX_PROFILE_WINDOWS windows, steps 2–3 run for every item again (a fresh window, of the protocol's
 * `remeasureMinibatches`, 4 × n by default, unless the request sets its n); the answer is
 * that window's results (cost: remeasures 1, modesProfiled 0), and the store's result of each item
 * becomes the combination of its windows (samples-weighted mean, the standard error of that mean,
 * samples summed, `windows` + 1: `combineWindows`), published with its `windows`. Otherwise the
 * request is answered as a plain one (what is missing measured, the rest from the store).
 *
 * One board has one set of knobs, so measurements are serialised: Profile calls queue behind each
 * other (a call answered wholly from the store does not wait).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import {
  POWER_MODE_KNOBS,
  ValidationError,
  assertOnGrid,
  BUILTIN_CATALOG,
  type Catalog,
  isValidationError,
  type PowerMode,
  type PowerModeGrid,
  type ProfileFilter,
  type ProfileKey,
  type ProfileRequest,
  type ProfileResult,
  type ProfilesPage,
  type ProfilesQuery,
  type WorkloadKind,
  meanAndStandardError,
  requireBatchSize,
  stackBase,
  stackTag,
  workloadStack,
} from '@fulcrum/core';
import { describeValue, remeasureMinibatchesOf, requireNonNegative, requirePositiveInteger, windowWeightsSquaredOf } from '@fulcrum/core/internal';
import { isBusError, profileCompletedSubject, validateToken, type EventBus } from '@fulcrum/bus/internal';
import { compareProfileKeys, describeProfileKey, profileKeyOf, type ProfileStore } from '@fulcrum/store';
import { validateProfileFilter, validateProfileKey } from '@fulcrum/store/internal';
import { GrpcStatusError } from '@fulcrum/runtime';
import { withRetry } from '@fulcrum/runtime/internal';
import type { Logger } from 'pino';
import type { ProtocolConfig } from './config.js';
import type { ProfilerMetrics } from './metrics.js';
import type { ControllerDeviceInfo, DeviceControllerPort, ExecutorPort, MeasurementRun } from './peers.js';
import { ModeDriftError, NoPowerSamplesError, windowPower } from './power.js';

export interface ProfileCost {
  /** 1 when this call measured anything new (the mode was switched), else 0. */
  readonly modesProfiled: number;
  /** 1 when this call measured a stored mode again (a re-measure: fresh windows of every item), else 0. */
  readonly remeasures: number;
  /** 1 when every result came from the store, else 0. */
  readonly modesReused: number;
  /** Switch + settle + warm-up and measured minibatch time, seconds (0 when all came from the store). */
  readonly profilingSeconds: number;
}

export interface ProfileOutcome {
  /** One per requested (workload, batch size), in request order. */
  readonly results: readonly ProfileResult[];
  /** Per result: measured by this call (true; a re-measure's fresh window too) or taken from the store (false). */
  readonly measured: readonly boolean[];
  readonly cost: ProfileCost;
}

export interface ProfilerOptions {
  readonly controller: DeviceControllerPort;
  readonly executor: ExecutorPort;
  readonly store: ProfileStore;
  /** Where `profile.completed` events go; none: nothing is published. */
  readonly bus?: EventBus | undefined;
  /** Software stack of the profile key; default: the controller's, else `unknown`. */
  readonly softwareStack?: string | undefined;
  readonly protocol: ProtocolConfig;
  /** The workloads requests may name; default the built-in ones (a profile table's catalog adds its own). */
  readonly catalog?: Catalog | undefined;
  /**
   * A user's workload folder's part of the software stack (`<name>@<hash12>`, `@fulcrum/workloads`'
   * stackTagOf): keys of that workload use `<stack>#<tag>`, so a changed model never mixes with its
   * old profiles. Undefined for a workload without a folder of the user's.
   */
  readonly workloadTag?: ((workload: string) => string | undefined) | undefined;
  /** Re-measurements after the knobs moved or telemetry dropped out. */
  readonly logger: Logger;
  readonly metrics?: ProfilerMetrics | undefined;
  /** How often unpublished events are retried, ms (default 5000; 0: only before each Profile). */
  readonly republishIntervalMs?: number | undefined;
  /** profile.completed events kept while the bus is away (default MAX_OUTBOX); the oldest go first. */
  readonly maxUnpublishedEvents?: number | undefined;
}

const MAX_MINIBATCHES = 100_000;
/** Unpublished profile.completed events kept while the bus is away (the results are in the store regardless). */
export const MAX_OUTBOX = 10_000;
/** (workload, batch size) items one Profile request may ask for: a problem's most (1 + 32 streams × 32 sizes), rounded up. */
export const MAX_PROFILE_ITEMS = 1100;
const MAX_SETTLE_S = 3600;
/**
 * Most measurement windows combined into one stored result (the first included): a re-measure of
 * a mode with an item at the limit is answered from the store. Eight windows cut a standard error
 * by √8 ≈ 2.8; more buys little and would let one busy key hold the board.
 */
export const MAX_PROFILE_WINDOWS = 8;
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

/** The telemetry stream ended during a measurement (the controller went away). */
class TelemetryLostError extends Error {
  override readonly name = 'TelemetryLostError';
  constructor(readonly failure: unknown) {
    super(`power telemetry was lost during the measurement: ${failure instanceof Error ? failure.message : String(failure)}`);
  }
}

interface Item {
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly batchSize: number;
}

/** The median time between consecutive samples (0 with fewer than two). */
function medianGapMs(samples: readonly { readonly atMs: number }[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < samples.length; i++) gaps.push(samples[i]!.atMs - samples[i - 1]!.atMs);
  if (gaps.length === 0) return 0;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}

const itemId = (i: Item): string => `${i.workload}|${i.kind}|${i.batchSize}`;

interface ValidRequest {
  readonly device: string;
  readonly mode: PowerMode;
  /** In request order, one per (workload entry, batch size). */
  readonly entries: readonly Item[];
  readonly warmupMinibatches: number;
  readonly measuredMinibatches: number;
  /** Measured minibatches of a re-measure's window (the request's n, else the protocol's `remeasureMinibatches`). */
  readonly remeasureMinibatches: number;
  readonly settleS: number;
  /** Measure stored items again (see the module comment). */
  readonly remeasure: boolean;
}

/** The grid's own value for each knob (requests may carry 1300.5000001 for 1300.5). */
function snapToGrid(mode: PowerMode, grid: PowerModeGrid): PowerMode {
  const snapped = { ...mode };
  for (const k of POWER_MODE_KNOBS) {
    const values = grid[k];
    let best = values[0]!;
    for (const v of values) if (Math.abs(v - mode[k]) < Math.abs(best - mode[k])) best = v;
    snapped[k] = best;
  }
  return snapped;
}

/**
 * Checks everything that does not need the device (field names as in the proto request); workload
 * names are looked up in `catalog` (default the built-in ones; a table board's adds its own).
 */
export function validateProfileInput(input: ProfileRequest, defaults: ProtocolConfig, catalog: Catalog = BUILTIN_CATALOG): Omit<ValidRequest, 'device' | 'mode'> & { device: string | undefined; mode: PowerMode } {
  if (input.device !== undefined && input.device !== '') validateToken('device', input.device);
  if (!input.mode) throw new ValidationError('mode', 'is required');
  for (const k of POWER_MODE_KNOBS) {
    const v = input.mode[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ValidationError(`mode.${k}`, `must be a positive number, got ${describeValue(v)}`);
  }
  if (!input.workloads || input.workloads.length === 0) throw new ValidationError('workloads', 'must list at least one workload');
  const entries: Item[] = [];
  input.workloads.forEach((w, i) => {
    const f = `workloads[${i}]`;
    if (typeof w.workload !== 'string' || w.workload === '') throw new ValidationError(`${f}.workload`, 'is required');
    const workload = catalog.workload(w.workload, `${f}.workload`).id;
    if (w.kind !== 'train' && w.kind !== 'infer') throw new ValidationError(`${f}.kind`, `must be "train" or "infer", got ${describeValue(w.kind)}`);
    if (!w.batchSizes || w.batchSizes.length === 0) throw new ValidationError(`${f}.batchSizes`, 'must list at least one batch size');
    const descriptor = catalog.workload(w.workload, `${f}.workload`);
    if (entries.length + w.batchSizes.length > MAX_PROFILE_ITEMS) throw new ValidationError(`${f}.batchSizes`, `the request asks for more than ${MAX_PROFILE_ITEMS} (workload, batch size) items`);
    w.batchSizes.forEach((b, j) => {
      const batchSize = requireBatchSize(`${f}.batchSizes[${j}]`, b, descriptor, w.kind);
      entries.push({ workload, kind: w.kind, batchSize });
    });
  });
  const count = (field: string, value: number | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new ValidationError(field, `must be an integer ≥ ${min}, got ${describeValue(value)}`);
    if (value > MAX_MINIBATCHES) throw new ValidationError(field, `must be at most ${MAX_MINIBATCHES}, got ${value}`);
    return value;
  };
  const measuredMinibatches = count('measuredMinibatches', input.measuredMinibatches, defaults.measuredMinibatches, 1);
  const settleS = input.settleS === undefined ? defaults.settleS : requireNonNegative('settleS', input.settleS);
  if (settleS > MAX_SETTLE_S) throw new ValidationError('settleS', `must be at most ${MAX_SETTLE_S} s, got ${settleS}`);
  return {
    device: input.device || undefined,
    mode: input.mode,
    entries,
    warmupMinibatches: count('warmupMinibatches', input.warmupMinibatches, defaults.warmupMinibatches, 0),
    measuredMinibatches,
    // A re-measure's window is the protocol's longer one unless the request sets its own n.
    remeasureMinibatches: input.measuredMinibatches === undefined ? remeasureMinibatchesOf(defaults) : measuredMinibatches,
    settleS,
    remeasure: input.remeasure === true,
  };
}

/** Store and bus failures while NATS is away become UNAVAILABLE (the caller retries). */
function storeError(err: unknown): unknown {
  if (isBusError(err) && err.retryable) return new GrpcStatusError(status.UNAVAILABLE, `profile store unavailable: ${err.message}`);
  return err;
}

function encodePageToken(key: ProfileKey): string {
  return Buffer.from(JSON.stringify(profileKeyOf(key))).toString('base64url');
}

function decodePageToken(token: string): ProfileKey {
  try {
    return validateProfileKey(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw new ValidationError('pageToken', 'is not a page token this profiler issued');
  }
}

export class Profiler {
  private readonly options: ProfilerOptions;
  private readonly logger: Logger;
  private info: Promise<ControllerDeviceInfo> | undefined;
  /** Measurements run one at a time: the board has one set of knobs. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Results stored but not yet published (NATS away); retried. */
  private readonly outbox: ProfileResult[] = [];
  private readonly republishTimer: NodeJS.Timeout | undefined;
  private warnedStack = false;
  private closed = false;

  constructor(options: ProfilerOptions) {
    this.options = options;
    this.logger = options.logger;
    const every = options.republishIntervalMs ?? 5000;
    if (options.bus && every > 0) {
      this.republishTimer = setInterval(() => void this.flushEvents(), every);
      this.republishTimer.unref();
    }
  }

  /** The controller's device info (fetched once; a failed fetch is retried on the next call). */
  deviceInfo(): Promise<ControllerDeviceInfo> {
    this.info ??= this.options.controller.getDeviceInfo().catch((err: unknown) => {
      this.info = undefined;
      throw err;
    });
    return this.info;
  }

  /** The software stack of the profile keys this profiler writes. */
  async softwareStack(): Promise<string> {
    if (this.options.softwareStack) return this.options.softwareStack;
    return (await this.deviceInfo()).softwareStack || 'unknown';
  }

  /**
   * Profiles one mode (see the module comment). Bad input throws a ValidationError naming the field.
   * `signal` (its caller cancelled, or its deadline passed) stops it — while it queues, between
   * items, and inside the executor's measurement — with CANCELLED; what it stored stays stored.
   */
  async profile(input: ProfileRequest, options: { readonly signal?: AbortSignal | undefined } = {}): Promise<ProfileOutcome> {
    const signal = options.signal;
    if (this.closed) throw new GrpcStatusError(status.UNAVAILABLE, 'the profiler is shutting down');
    const started = performance.now();
    const base = validateProfileInput(input, this.options.protocol, this.options.catalog);
    const info = await this.deviceInfo();
    if (base.device !== undefined && base.device !== info.device) {
      throw new ValidationError('device', `this profiler drives ${describeValue(info.device)}, not ${describeValue(base.device)}`);
    }
    assertOnGrid(base.mode, info.grid, info.device, 'mode');
    const request: ValidRequest = { ...base, device: info.device, mode: snapToGrid(base.mode, info.grid) };
    const stack = await this.softwareStack();
    try {
      // Wholly stored: answer at once, without queueing behind a running measurement.
      const early = await this.lookup(request, stack);
      let outcome: ProfileOutcome;
      if (early.missing.length === 0 && !(request.remeasure && remeasurable(early.found))) {
        outcome = this.answer(request, early.found, new Set(), REUSED);
      } else {
        outcome = await this.serialised(async () => {
          stopIfCancelled(signal);
          await this.flushEvents();
          const { found, missing } = await this.lookup(request, stack);
          if (missing.length === 0) {
            if (!request.remeasure || !remeasurable(found)) return this.answer(request, found, new Set(), REUSED);
            const items = [...found.keys()].map((id) => request.entries.find((e) => itemId(e) === id)!);
            const seconds = await this.measureMode(request, stack, items, found, signal, true);
            return this.answer(request, found, new Set(items.map(itemId)), { modesProfiled: 0, modesReused: 0, remeasures: 1, profilingSeconds: seconds });
          }
          const seconds = await this.measureMode(request, stack, missing, found, signal, false);
          return this.answer(request, found, new Set(missing.map(itemId)), { modesProfiled: 1, modesReused: 0, remeasures: 0, profilingSeconds: seconds });
        });
      }
      const kind = outcome.cost.remeasures ? 'remeasured' : outcome.cost.modesProfiled ? 'measured' : 'reused';
      this.options.metrics?.profileDuration.observe({ outcome: kind }, (performance.now() - started) / 1000);
      return outcome;
    } catch (err) {
      this.options.metrics?.profileDuration.observe({ outcome: 'error' }, (performance.now() - started) / 1000);
      throw storeError(err);
    }
  }

  /** One page of stored results (any key parts; ordered by key). */
  async getProfiles(query: ProfilesQuery = {}): Promise<ProfilesPage> {
    const { pageSize, pageToken, ...rest } = query;
    let filter: ProfileFilter;
    try {
      const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined && v !== ''));
      filter = validateProfileFilter(defined);
    } catch (err) {
      throw isValidationError(err) ? err.renamed(err.field.replace(/^filter\./, '')) : err;
    }
    let size = DEFAULT_PAGE_SIZE;
    if (pageSize !== undefined && pageSize !== 0) size = Math.min(MAX_PAGE_SIZE, requirePositiveInteger('pageSize', pageSize));
    const after = pageToken ? decodePageToken(pageToken) : undefined;
    let all: ProfileResult[];
    try {
      all = await this.options.store.query(filter);
    } catch (err) {
      throw storeError(err);
    }
    let start = 0;
    if (after) {
      start = all.findIndex((r) => compareProfileKeys(r, after) > 0);
      if (start < 0) start = all.length;
    }
    const results = all.slice(start, start + size);
    const nextPageToken = start + size < all.length ? encodePageToken(results[results.length - 1]!) : '';
    return { results, nextPageToken };
  }

  /** Publishes what could not be published before (NATS was away). Never throws. */
  async flushEvents(): Promise<void> {
    const bus = this.options.bus;
    if (!bus || this.outbox.length === 0) return;
    const pending = this.outbox.splice(0);
    const { board } = await this.deviceInfo();
    for (let i = 0; i < pending.length; i++) {
      try {
        await bus.publish(profileCompletedSubject(board), pending[i]!, { msgId: eventId(pending[i]!) });
      } catch {
        this.keepUnpublished(pending.slice(i));
        return;
      }
    }
    this.logger.info({ published: pending.length }, 'published profile results kept while the bus was away');
  }

  /**
   * Keeps events to publish later, bounded while NATS stays away: past the limit the oldest go
   * (their results stay in the store and in every GetProfiles answer; only the event is lost, and said so).
   */
  private keepUnpublished(results: readonly ProfileResult[]): void {
    this.outbox.push(...results);
    const limit = this.options.maxUnpublishedEvents ?? MAX_OUTBOX;
    if (this.outbox.length > limit) {
      const dropped = this.outbox.splice(0, this.outbox.length - limit);
      this.droppedEvents += dropped.length;
      this.logger.warn({ dropped: dropped.length, kept: limit }, 'too many profile events unpublished; the oldest are dropped (their results are in the store)');
    }
  }

  /** profile.completed events dropped because too many waited for the bus. */
  droppedEvents = 0;

  /** Events stored but not yet published. */
  get unpublished(): number {
    return this.outbox.length;
  }

  /** Waits for the running measurement, tries once more to publish, stops the timer. Leaves store, bus and peers to their owner. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.republishTimer) clearInterval(this.republishTimer);
    await this.queue.catch(() => undefined);
    await this.flushEvents();
    if (this.outbox.length > 0) this.logger.warn({ unpublished: this.outbox.length }, 'closing with profile results not published (they are in the store)');
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The key stack of one workload: the board's, plus the workload folder's tag where it has one. */
  private stackOf(stack: string, workload: string): string {
    return workloadStack(stack, this.options.workloadTag?.(workload));
  }

  private keyFor(request: ValidRequest, stack: string, item: Item): ProfileKey {
    return { device: request.device, softwareStack: this.stackOf(stack, item.workload), workload: item.workload, kind: item.kind, batchSize: item.batchSize, mode: request.mode };
  }

  private async lookup(request: ValidRequest, stack: string): Promise<{ found: Map<string, ProfileResult>; missing: Item[] }> {
    const found = new Map<string, ProfileResult>();
    const missing: Item[] = [];
    const seen = new Set<string>();
    for (const item of request.entries) {
      const id = itemId(item);
      if (seen.has(id)) continue;
      seen.add(id);
      const stored = await this.options.store.get(this.keyFor(request, stack, item));
      if (stored) found.set(id, stored);
      else missing.push(item);
    }
    return { found, missing };
  }

  private answer(request: ValidRequest, found: Map<string, ProfileResult>, measuredNow: Set<string>, cost: ProfileCost): ProfileOutcome {
    const counted = new Set<string>();
    for (const item of request.entries) {
      const id = itemId(item);
      if (counted.has(id) || measuredNow.has(id)) continue;
      counted.add(id);
      this.options.metrics?.reused.inc({ kind: item.kind });
    }
    if (cost.remeasures > 0) this.options.metrics?.remeasures.inc();
    if (cost.profilingSeconds > 0) this.options.metrics?.profilingSeconds.inc(cost.profilingSeconds);
    return {
      results: request.entries.map((item) => found.get(itemId(item))!),
      measured: request.entries.map((item) => measuredNow.has(itemId(item))),
      cost,
    };
  }

  /**
   * Measured minibatches of a re-measure's window of an item: the request's `remeasureMinibatches`,
   * cut so that warm-up and window take at most `protocol.remeasureWindowS` at the item's stored
   * minibatch time (a slow model at a low mode would otherwise run past the executor's
   * measurement limit), never below a first window's n.
   */
  private remeasureCount(request: ValidRequest, stored: ProfileResult): number {
    const perS = stored.timeMs / 1000;
    const fit = perS > 0 ? Math.floor(this.options.protocol.remeasureWindowS / perS) - request.warmupMinibatches : request.remeasureMinibatches;
    return Math.max(request.measuredMinibatches, Math.min(request.remeasureMinibatches, fit));
  }

  /**
   * Switches once and measures the items; returns the profiling seconds. New items (`again`
   * false): stores and publishes each result and puts it in `found`. Stored items (`again`, a
   * re-measure): combines each fresh window into the stored result, stores and publishes the
   * combination, and puts the fresh window in `found`.
   */
  private async measureMode(request: ValidRequest, stack: string, missing: readonly Item[], found: Map<string, ProfileResult>, signal: AbortSignal | undefined, again: boolean): Promise<number> {
    const { controller } = this.options;
    const remaining = [...missing];
    let switched: { mode: PowerMode; switchS: number } | undefined;
    let seconds = 0;
    let failures = 0;
    while (remaining.length > 0) {
      stopIfCancelled(signal);
      try {
        if (!switched) {
          const t0 = performance.now();
          switched = await controller.setPowerMode(request.mode, request.settleS);
          seconds += switched.switchS > 0 ? switched.switchS : (performance.now() - t0) / 1000;
          this.options.metrics?.modesSwitched.inc();
          this.logger.debug({ mode: request.mode, switchS: switched.switchS }, 'switched mode for profiling');
        }
        const item = remaining[0]!;
        const earlier = again ? found.get(itemId(item))! : undefined;
        const { result, minibatchS } = await this.measureItem(earlier ? { ...request, measuredMinibatches: this.remeasureCount(request, earlier) } : request, stack, item, switched.mode, signal);
        seconds += minibatchS;
        if (earlier) {
          const combined = await this.storeWindow(earlier, result);
          found.set(itemId(item), result);
          this.options.metrics?.remeasured.inc({ kind: item.kind });
          remaining.shift();
          if (combined) await this.publish(combined);
          continue;
        }
        const stored = await this.store(result);
        found.set(itemId(item), stored);
        this.options.metrics?.measured.inc({ kind: item.kind });
        remaining.shift();
        if (stored === result) await this.publish(result);
      } catch (err) {
        const redo = err instanceof ModeDriftError || err instanceof NoPowerSamplesError || err instanceof TelemetryLostError;
        if (redo && ++failures < this.options.protocol.measureAttempts) {
          this.logger.warn({ err: err.message, attempt: failures }, 'measurement not usable; switching the mode again and re-measuring');
          switched = undefined;
          continue;
        }
        if (err instanceof ModeDriftError) throw new GrpcStatusError(status.ABORTED, `${err.message}; is something else (nvpmodel, jetson_clocks, another client) changing the mode?`);
        if (err instanceof NoPowerSamplesError) throw new GrpcStatusError(status.UNAVAILABLE, `device-controller telemetry gave no usable power samples: ${err.message}`);
        if (err instanceof TelemetryLostError) throw err.failure;
        throw err;
      }
    }
    return seconds;
  }

  private async measureItem(request: ValidRequest, stack: string, item: Item, expectedMode: PowerMode, signal?: AbortSignal): Promise<{ result: ProfileResult; minibatchS: number }> {
    const { controller, executor, protocol } = this.options;
    const intervalMs = protocol.telemetryIntervalMs;
    const telemetry = controller.streamTelemetry(intervalMs);
    try {
      // Power is read over the window, so the stream must be live before the run starts.
      await Promise.race([telemetry.firstSample, sleep(Math.max(1000, 20 * intervalMs), undefined, { ref: false })]);
      if (telemetry.failure) throw new TelemetryLostError(telemetry.failure);
      if (telemetry.samples.length === 0) this.logger.warn({ intervalMs }, 'no telemetry sample yet; measuring anyway');
      const run: MeasurementRun = { ...item, warmupMinibatches: request.warmupMinibatches, measuredMinibatches: request.measuredMinibatches };
      const out = await executor.runMeasurement(run, { signal });
      // The sample that closes the window may still be on its way.
      await telemetry.waitUntil(out.windowEndMs, 3 * intervalMs);
      if (telemetry.failure) throw new TelemetryLostError(telemetry.failure);
      const times = out.minibatchTimesMs;
      const { mean: meanMs, se: timeSeMs } = meanAndStandardError(times);
      if (!(meanMs > 0) || !Number.isFinite(meanMs)) throw new GrpcStatusError(status.INTERNAL, `executor returned unusable minibatch times for ${itemId(item)}: ${times.slice(0, 5).join(', ')}`);
      const power = windowPower(
        telemetry.samples,
        {
          windowStartMs: out.windowStartMs,
          windowEndMs: out.windowEndMs,
          // On the window's own clock (a time-scaled simulated runner reports device milliseconds).
          warmupStartMs: out.windowStartMs - (request.warmupMinibatches * (out.windowEndMs - out.windowStartMs)) / times.length,
          minSamples: protocol.minPowerSamples,
          // The controller may sample slower than asked (it has a floor): judge by what it sends.
          intervalMs: Math.max(intervalMs, medianGapMs(telemetry.samples)),
        },
        expectedMode,
      );
      if (power.method !== 'window') {
        this.options.metrics?.powerFallbacks.inc({ method: power.method });
        this.logger.debug({ item: itemId(item), method: power.method, samples: power.samples, windowMs: out.windowEndMs - out.windowStartMs }, 'power from the fallback');
      }
      const ours = this.options.workloadTag?.(item.workload);
      const theirs = out.softwareStack ? stackTag(out.softwareStack) : undefined;
      if (ours && theirs && ours !== theirs) {
        throw new GrpcStatusError(
          status.FAILED_PRECONDITION,
          `the executor runs workload folder ${theirs}, the profiler's is ${ours}: the two copies of ${item.workload} differ (give both the same --workloads folder)`,
        );
      }
      if (out.softwareStack && stackBase(out.softwareStack) !== stack && !this.warnedStack) {
        this.warnedStack = true;
        this.logger.warn({ executor: out.softwareStack, profileKey: stack }, 'the executor reports a different software stack than the profile keys use; set softwareStack to the one that runs');
      }
      const result: ProfileResult = {
        device: request.device,
        softwareStack: this.stackOf(stack, item.workload),
        workload: item.workload,
        kind: item.kind,
        batchSize: item.batchSize,
        mode: request.mode,
        timeMs: meanMs,
        powerW: power.powerW,
        measuredAt: new Date(out.windowEndMs).toISOString(),
        samples: times.length,
        // How sure: SE of the minibatch times and of the window's power samples (issue 16).
        ...(timeSeMs !== undefined ? { timeSeMs } : {}),
        ...(power.seW !== undefined ? { powerSeW: power.seW } : {}),
      };
      // Warm-up minibatches are not reported; they cost about the measured mean each.
      const minibatchS = (times.reduce((a, t) => a + t, 0) + request.warmupMinibatches * meanMs) / 1000;
      return { result, minibatchS };
    } finally {
      telemetry.close();
    }
  }

  /** Stores a new result; when another profiler stored the key first, that result wins. */
  private async store(result: ProfileResult): Promise<ProfileResult> {
    try {
      if (await this.options.store.putIfAbsent(result)) return result;
      return (await this.options.store.get(profileKeyOf(result))) ?? result;
    } catch (err) {
      if (isValidationError(err)) throw new GrpcStatusError(status.INTERNAL, `measurement not storable (${err.message})`);
      throw err;
    }
  }

  /**
   * Combines a fresh window into the stored result of its key (the one read before measuring;
   * re-read in case another profiler on a shared store replaced it) and stores the combination.
   * Returns it; undefined when another profiler on a shared store brought the key to
   * MAX_PROFILE_WINDOWS meanwhile (the window is then answered but not stored).
   */
  private async storeWindow(before: ProfileResult, fresh: ProfileResult): Promise<ProfileResult | undefined> {
    try {
      const current = (await this.options.store.get(profileKeyOf(fresh))) ?? before;
      if ((current.windows ?? 1) >= MAX_PROFILE_WINDOWS) return undefined;
      const combined = combineWindows(current, fresh);
      await this.options.store.put(combined);
      return combined;
    } catch (err) {
      if (isValidationError(err)) throw new GrpcStatusError(status.INTERNAL, `measurement not storable (${err.message})`);
      throw err;
    }
  }

  private async publish(result: ProfileResult): Promise<void> {
    const bus = this.options.bus;
    if (!bus) return;
    const { board } = await this.deviceInfo();
    try {
      await withRetry(() => bus.publish(profileCompletedSubject(board), result, { msgId: eventId(result) }), {
        attempts: 3,
        initialDelayMs: 100,
        retryable: (err) => isBusError(err) && err.retryable,
      });
    } catch (err) {
      this.keepUnpublished([result]);
      this.options.metrics?.publishFailures.inc();
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), key: describeProfileKey(result) }, 'profile result stored but not published yet; will retry');
    }
  }
}

/** Every item stored with fewer than MAX_PROFILE_WINDOWS windows: a re-measure may take a fresh window. */
function remeasurable(found: ReadonlyMap<string, ProfileResult>): boolean {
  for (const r of found.values()) if ((r.windows ?? 1) >= MAX_PROFILE_WINDOWS) return false;
  return true;
}

const REUSED: ProfileCost = { modesProfiled: 0, modesReused: 1, remeasures: 0, profilingSeconds: 0 };

/**
 * The de-duplication id of a profile.completed event: the key, and for a combined result its
 * windows too (JetStream would otherwise drop a re-measure's event as a repeat of the first).
 */
function eventId(r: ProfileResult): string {
  return r.windows !== undefined && r.windows > 1 ? `${describeProfileKey(r)}#w${r.windows}` : describeProfileKey(r);
}

/**
 * A stored result and a fresh window of its key as one result (SPEC §4, re-measurement): each
 * value the samples-weighted mean of the two, its standard error that of the mean,
 * √(w₁²·SE₁² + w₂²·SE₂²) with wᵢ = nᵢ/(n₁+n₂) (unknown when either is), samples summed, windows
 * counted, Σwᵢ² of all the windows kept (`windowWeightsSquared`: w₁²·S₁ + w₂²·S₂, a result without
 * it counting its windows as equal), measured at the fresh window's end. The same rule as the strategies'
 * `MeasurementTable.combine`, so an optimizer's cache and the store agree.
 */
export function combineWindows(stored: ProfileResult, fresh: ProfileResult): ProfileResult {
  const n1 = stored.samples;
  const n2 = fresh.samples;
  const w1 = n1 / (n1 + n2);
  const w2 = n2 / (n1 + n2);
  const err = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : Math.sqrt(w1 * w1 * a * a + w2 * w2 * b * b));
  const timeSeMs = err(stored.timeSeMs, fresh.timeSeMs);
  const powerSeW = err(stored.powerSeW, fresh.powerSeW);
  const { timeSeMs: _t, powerSeW: _p, windows: _w, windowWeightsSquared: _s, ...key } = stored;
  return {
    ...key,
    timeMs: w1 * stored.timeMs + w2 * fresh.timeMs,
    powerW: w1 * stored.powerW + w2 * fresh.powerW,
    measuredAt: fresh.measuredAt > stored.measuredAt ? fresh.measuredAt : stored.measuredAt,
    samples: n1 + n2,
    ...(timeSeMs !== undefined ? { timeSeMs } : {}),
    ...(powerSeW !== undefined ? { powerSeW } : {}),
    windows: (stored.windows ?? 1) + (fresh.windows ?? 1),
    windowWeightsSquared: w1 * w1 * windowWeightsSquaredOf(stored) + w2 * w2 * windowWeightsSquaredOf(fresh),
  };
}

/** CANCELLED once the caller's signal has aborted (the Profile call was cancelled or its deadline passed). */
function stopIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new GrpcStatusError(status.CANCELLED, 'the Profile call was cancelled (its client went away or its deadline passed); profiling stopped');
}
