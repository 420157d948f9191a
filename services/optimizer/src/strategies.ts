/**
 * Strategies by name, including budgets the registry does not list (`gmd-20`, `als-75`,
 * `random-30`, `powertrain-40`, `bo-20`), and the remote profiler as a strategies
 * `ProfileBackend`: every mode a strategy asks for becomes one Profile call.
 */
import { LRUCache } from 'lru-cache';
import { ValidationError, type DeviceSpec, type WorkloadKind } from '@fulcrum/core';
import {
  DEFAULT_BO_OPTIONS,
  DEFAULT_GMD_OPTIONS,
  DEFAULT_PROTOCOL,
  als,
  bayesianOptimisation,
  confirmed,
  getStrategy,
  gmd,
  measuredValueOf,
  powertrain,
  profilingCostS,
  randomK,
  remeasureMinibatchesOf,
  type MeasuredValue,
  type ModeMeasurement,
  type ModeSpace,
  type ProfileBackend,
  type TableKey,
  type Strategy,
} from '@fulcrum/strategies';
import { tableKeyText } from '@fulcrum/strategies/internal';
import type { ProfileResult } from '@fulcrum/core';
import { windowWeightsSquaredOf } from '@fulcrum/core/internal';
import type { ProfilerPort } from './ports.js';

const MAX_MODE_BUDGET = 10_000;
/** Resolved strategies by name, the most recently used 256 (a `<family>-<modes>` name per budget would otherwise grow without bound). */
const resolved = new LRUCache<string, Strategy>({ max: 256 });

/** A strategy by registry name or alias (`gmd`, `als`, `als-100`, `random-15`, …) or `<family>-<modes>`. */
export function resolveStrategy(name: string, field = 'strategy'): Strategy {
  const cached = resolved.get(name);
  if (cached) return cached;
  let strategy: Strategy;
  try {
    strategy = getStrategy(name, field);
  } catch (err) {
    const m = /^(gmd|als|random|powertrain|bo)-(\d+)$/.exec(name);
    if (!m) throw err;
    const n = Number(m[2]);
    if (n < 1 || n > MAX_MODE_BUDGET) throw new ValidationError('modeBudget', `must be between 1 and ${MAX_MODE_BUDGET}, got ${n}`);
    switch (m[1]) {
      case 'gmd':
        strategy = confirmed(gmd({ ...DEFAULT_GMD_OPTIONS, maxModes: n }));
        break;
      case 'als':
        strategy = confirmed(als(n));
        break;
      case 'random':
        strategy = randomK(n);
        break;
      case 'powertrain':
        strategy = powertrain(n);
        break;
      default:
        strategy = bayesianOptimisation({ ...DEFAULT_BO_OPTIONS, modes: n });
    }
  }
  resolved.set(name, strategy);
  return strategy;
}

/** What the last Profile call(s) answered for one (key, mode). */
export interface ModeRecord {
  /** The mode's results as the profiler's store holds them (for a re-measure: the combined ones). */
  readonly results: readonly ProfileResult[];
  /** The profiler measured something new for it (false: wholly from its store, or a re-measure). */
  readonly measuredNow: boolean;
  /** The profiler re-measured it (a fresh window of every result, combined into its store). */
  readonly remeasured: boolean;
  /** A re-measure's fresh window (what the profiler answered); else `results`. */
  readonly window: readonly ProfileResult[];
  /** `results` as a measurement (windows and standard errors included): what the store holds. */
  readonly stored: ModeMeasurement;
  /** Profiling seconds the profiler reported (0 when from its store). */
  readonly profilingSeconds: number;
  /** Wall time spent waiting for the profiler, ms. */
  readonly waitedMs: number;
}

/** Measurement protocol overrides sent with every Profile call (absent: the profiler's defaults). */
export interface ProfileProtocolOverrides {
  readonly warmupMinibatches?: number | undefined;
  readonly measuredMinibatches?: number | undefined;
  /** Measured minibatches of a re-measure's window; absent: 4 × `measuredMinibatches` where that is set, else the profiler's own `remeasureMinibatches`. */
  readonly remeasureMinibatches?: number | undefined;
  readonly settleS?: number | undefined;
}

/**
 * The profiler service as a strategies backend. The strategies' ProfileCache in front of it asks
 * for a mode at most once per key; the profiler's store makes a mode asked again by another
 * optimizer (or after a restart) cost nothing.
 *
 * Re-measures (`remeasures`, issue 16): `measure(…, { repeat > 0 })` sends `remeasure`; the
 * profiler measures the stored mode again, answers the fresh window (which the cache combines) and
 * keeps the combination, which a second, plain Profile call reads back from its store (no
 * measuring) into the record. A profiler that answers from its store instead (a key at its limit
 * of windows, or one older than re-measurement) answers what it holds: `record(…).remeasured` is
 * false, and the optimizer puts the stored values back into its cache.
 *
 * It keeps the last Profile answer of each mode (`record`: the results a Solve's `ModeProfiled`
 * event carries, also for a mode answered from the cache) for the `maxKeys` keys used most
 * recently; the optimizer sets twice its profile-cache bound, so a key whose profiles are cached
 * keeps its answers while memory stays flat over any number of distinct problems.
 */
export class RemoteProfileBackend implements ProfileBackend {
  readonly deviceId: string;
  readonly presets: DeviceSpec['presets'];
  /** The profiler takes a fresh window when asked (ProfileRequest.remeasure). */
  readonly remeasures = true;
  /** Relative error a window's samples cannot show (thermal drift), added to the margins (SPEC §4). */
  readonly systematicFraction: number;
  /** Per key (its text), per mode index: the last Profile answer. */
  private readonly records: LRUCache<string, Map<number, ModeRecord>> | Map<string, Map<number, ModeRecord>>;

  constructor(
    private readonly profiler: ProfilerPort,
    device: DeviceSpec,
    readonly space: ModeSpace,
    readonly noiseFraction: number,
    private readonly protocol: ProfileProtocolOverrides = {},
    options: { readonly maxKeys?: number | undefined; readonly systematicFraction?: number | undefined } = {},
  ) {
    this.systematicFraction = options.systematicFraction ?? 0;
    this.deviceId = device.id;
    this.presets = device.presets;
    this.records = options.maxKeys ? new LRUCache({ max: options.maxKeys }) : new Map();
  }

  /** The last Profile answer for a mode of a key. */
  record(key: TableKey, modeIndex: number): ModeRecord | undefined {
    return this.records.get(tableKeyText(key))?.get(modeIndex);
  }

  /** Keys with answers kept (at most `maxKeys`). */
  get recordedKeys(): number {
    return this.records.size;
  }

  async measure(key: TableKey, modeIndex: number, options: { readonly signal?: AbortSignal | undefined; readonly repeat?: number | undefined } = {}): Promise<ModeMeasurement> {
    const mode = this.space.mode(modeIndex);
    const workloads: { workload: string; kind: WorkloadKind; batchSizes: number[] }[] = [{ workload: key.trainWorkload, kind: 'train', batchSizes: [key.trainBatchSize] }];
    for (const s of key.streams) {
      const same = workloads.find((w) => w.kind === 'infer' && w.workload === s.workload);
      if (same) same.batchSizes = [...new Set([...same.batchSizes, ...s.candidateBatchSizes])];
      else workloads.push({ workload: s.workload, kind: 'infer', batchSizes: [...s.candidateBatchSizes] });
    }
    const again = (options.repeat ?? 0) > 0;
    const { remeasureMinibatches, ...protocol } = this.protocol;
    const request = { device: key.device, mode, workloads, ...protocol };
    // A re-measure's window is the longer one (SPEC §4); with neither count set, the profiler's own default.
    const againN = protocol.measuredMinibatches === undefined ? remeasureMinibatches : remeasureMinibatchesOf({ measuredMinibatches: protocol.measuredMinibatches, remeasureMinibatches });
    const t0 = performance.now();
    const out = await this.profiler.profile(again ? { ...request, measuredMinibatches: againN, remeasure: true } : request, options);
    const remeasured = again && (out.cost.remeasures ?? 0) > 0;
    // A re-measure answers the fresh window; the store's combination is read back (from the store, no measuring).
    const stored = remeasured ? (await this.profiler.profile(request, options)).results : out.results;
    const waitedMs = performance.now() - t0;
    const text = tableKeyText(key);
    let modes = this.records.get(text);
    if (!modes) this.records.set(text, (modes = new Map()));
    const window = measurementOf(key, out.results, out.cost.profilingSeconds);
    modes.set(modeIndex, {
      results: stored,
      measuredNow: out.cost.modesProfiled > 0,
      remeasured,
      window: out.results,
      stored: remeasured ? measurementOf(key, stored, out.cost.profilingSeconds) : window,
      profilingSeconds: out.cost.profilingSeconds,
      waitedMs,
    });
    return window;
  }
}

/** Profile results of one mode as the measurement of a key (with their standard errors, samples and windows). */
export function measurementOf(key: TableKey, results: readonly ProfileResult[], profilingSeconds: number): ModeMeasurement {
  const find = (workload: string, kind: WorkloadKind, batchSize: number) => results.find((r) => r.workload === workload && r.kind === kind && r.batchSize === batchSize);
  // With the standard errors the profiler measured, so the margins are z·SE (SPEC §4).
  const asMeasurement = (r: ProfileResult | undefined): MeasuredValue | undefined => (r ? measuredValueOf(r) : undefined);
  const training = asMeasurement(find(key.trainWorkload, 'train', key.trainBatchSize)) ?? { timeS: Number.NaN, powerW: Number.NaN };
  const inference = key.streams.map((s) => s.candidateBatchSizes.map((b) => asMeasurement(find(s.workload, 'infer', b))));
  // Windows the store combined into these results: the fewest among them (the margins' s²/w stays cautious).
  const windows = results.length > 0 ? Math.min(...results.map((r) => r.windows ?? 1)) : 1;
  // And the largest share of one window's systematic error they keep (Σwᵢ², equal windows where the store did not keep it).
  const windowWeightsSquared = results.length > 0 ? Math.max(...results.map(windowWeightsSquaredOf)) : 1;
  // What profiling this mode costs on an empty store: the profiler's figure, or the default protocol's estimate when it came from the store.
  const costS = profilingSeconds > 0 ? profilingSeconds : Number.isNaN(training.timeS) ? 0 : profilingCostS(DEFAULT_PROTOCOL, training, inference);
  return { training, inference, costS, ...(windows > 1 ? { windows, windowWeightsSquared } : {}) };
}
