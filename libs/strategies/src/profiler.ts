/**
 * Where measurements come from. A backend (virtual device, profile table, a profiler service in
 * front of a board) measures one mode for one profile key; a `ProfileCache` keeps every result, so
 * a mode is profiled at most once per key (SPEC §4), however many strategies and problems ask.
 */
import { LRUCache } from 'lru-cache';
import type { PowerPreset } from '@fulcrum/core';
import type { ModeSpace } from './space.js';
import { MeasurementTable, tableKeyText, type ModeMeasurement, type TableKey } from './table.js';

export interface ProfileBackend {
  /** The device id problems name (e.g. `orin-agx`). */
  readonly deviceId: string;
  /** The modes this backend can measure. */
  readonly space: ModeSpace;
  /** NVIDIA presets on this device (for the best-preset baseline); modes off `space` are ignored. */
  readonly presets: readonly PowerPreset[];
  /**
   * Typical relative noise of one measurement (e.g. 0.025); strategies size their safety margins
   * from it. 0 for an exact source.
   */
  readonly noiseFraction: number;
  /**
   * Relative error one measurement window's own samples cannot show (the board's thermal state
   * during the window), which margins add to the standard errors measurements carry; 0 or absent
   * when unknown.
   */
  readonly systematicFraction?: number | undefined;
  /**
   * Whether `measure` honours `repeat` with a fresh measurement window (a re-measure, issue 16).
   * A backend without it answers a strategy's re-measure requests with nothing (and no charge).
   */
  readonly remeasures?: boolean | undefined;
  /**
   * Profiles one mode for a key. May be asynchronous (a remote profiler; `signal` cancels it).
   * `repeat` n > 0: the (n+1)-th window of an already measured mode (backends with `remeasures`).
   */
  measure(key: TableKey, modeIndex: number, options?: { readonly signal?: AbortSignal | undefined; readonly repeat?: number | undefined }): ModeMeasurement | Promise<ModeMeasurement>;
  /** Noise-free ground truth over the whole space, where one exists (virtual devices, tables). */
  groundTruth?(key: TableKey): MeasurementTable;
}

/** Every measurement taken for one key. */
export class ProfileCache {
  readonly key: TableKey;
  readonly table: MeasurementTable;
  /** How many backend measurements this cache has made (each mode at most once). */
  measurements = 0;
  private readonly backend: ProfileBackend;
  /** Modes measured (a mode a table lacks data for stays NaN in `table` but is measured all the same). */
  private readonly done: Uint8Array;
  /** Per mode: windows measured beyond the first. */
  private readonly extra: Uint16Array;
  /** Per mode: seconds its last re-measure's window took (a re-measure's window may be longer than a first one). */
  private readonly againS: Float64Array;
  private kept: Map<number, { readonly measurement: ModeMeasurement; readonly extra: number }> | undefined;

  constructor(backend: ProfileBackend, key: TableKey) {
    this.backend = backend;
    this.key = key;
    this.table = MeasurementTable.forKey(backend.space.size, key);
    this.done = new Uint8Array(backend.space.size);
    this.extra = new Uint16Array(backend.space.size);
    this.againS = new Float64Array(backend.space.size);
  }

  /** Whether this mode has been measured for the key. */
  has(index: number): boolean {
    return this.done[index] === 1;
  }

  private check(index: number): void {
    if (!this.backend.space.available(index)) {
      throw new RangeError(`mode index ${index} is not in the ${this.backend.deviceId} mode space`);
    }
  }

  /** Measures the modes not yet in the cache (synchronous backends only). */
  ensureSync(indices: readonly number[]): void {
    for (const i of indices) {
      if (this.done[i] === 1) continue;
      this.check(i);
      const m = this.backend.measure(this.key, i);
      if (m instanceof Promise) throw new TypeError(`backend ${this.backend.deviceId} is asynchronous; use the async drivers`);
      this.table.set(i, m);
      this.done[i] = 1;
      this.measurements++;
    }
  }

  /** Seconds the last re-measure of a mode took (what a re-measure of it is charged); its first window's before any. */
  remeasureCostS(index: number): number {
    return this.againS[index]! || this.table.costS[index]!;
  }

  /** Windows measured for a mode beyond its first (re-measures), since it entered the cache. */
  repeats(index: number): number {
    return this.extra[index]!;
  }

  /**
   * Measures already measured modes once more (a fresh window each) and combines the windows
   * (`MeasurementTable.combine`); a mode not measured yet is measured for the first time.
   * Returns the modes measured again (none where the backend cannot re-measure).
   */
  remeasureSync(indices: readonly number[]): number[] {
    const again: number[] = [];
    for (const i of indices) {
      if (this.done[i] !== 1) {
        this.ensureSync([i]);
        continue;
      }
      if (!this.backend.remeasures) continue;
      const m = this.backend.measure(this.key, i, { repeat: this.extra[i]! + 1 });
      if (m instanceof Promise) throw new TypeError(`backend ${this.backend.deviceId} is asynchronous; use the async drivers`);
      this.combineWindow(i, m);
      again.push(i);
    }
    return again;
  }

  async remeasure(indices: readonly number[], options: { readonly signal?: AbortSignal | undefined } = {}): Promise<number[]> {
    const again: number[] = [];
    for (const i of indices) {
      if (this.done[i] !== 1) {
        await this.ensure([i], options);
        continue;
      }
      if (!this.backend.remeasures) continue;
      this.combineWindow(i, await this.backend.measure(this.key, i, { ...options, repeat: this.extra[i]! + 1 }));
      again.push(i);
    }
    return again;
  }

  /**
   * Starts keeping the modes' first windows as they are before any re-measure, so `restore` can
   * undo re-measures: the benchmark charges each problem as if it ran alone, so one problem's
   * re-measures must not serve the next for free.
   */
  checkpoint(): void {
    this.kept = new Map();
  }

  /** Undoes the re-measures since `checkpoint` (the modes' values and windows as they were). */
  restore(): void {
    const kept = this.kept;
    if (!kept) return;
    for (const [i, { measurement, extra }] of kept) {
      this.table.set(i, measurement);
      this.extra[i] = extra;
    }
    kept.clear();
  }

  /** A further window of mode i: kept for `restore`, combined into the table, counted. */
  private combineWindow(i: number, m: ModeMeasurement): void {
    this.keep(i);
    this.againS[i] = m.costS;
    this.table.combine(i, m);
    this.extra[i]!++;
    this.measurements++;
  }

  private keep(i: number): void {
    if (this.kept && !this.kept.has(i)) this.kept.set(i, { measurement: this.table.get(i)!, extra: this.extra[i]! });
  }

  /** Measures the modes not yet in the cache, one at a time (a board has one set of knobs); `signal` cancels a remote measurement. */
  async ensure(indices: readonly number[], options: { readonly signal?: AbortSignal | undefined } = {}): Promise<void> {
    for (const i of indices) {
      if (this.done[i] === 1) continue;
      this.check(i);
      const m = await this.backend.measure(this.key, i, options);
      if (this.done[i] !== 1) {
        this.table.set(i, m);
        this.done[i] = 1;
        this.measurements++;
      }
    }
  }
}

/**
 * The `ProfileCache`s and ground truths of one backend, by key (in memory; @fulcrum/store's
 * `ProfileStore` is the persistent store of profile results). `maxKeys` bounds them (least
 * recently used keys go first; a long-lived service sets it so memory stays flat over any number
 * of distinct problems — an evicted key's profiles come back from the store, unmeasured).
 * Unbounded by default (the bench walks its keys and forgets each itself).
 */
export class BackendCaches {
  readonly backend: ProfileBackend;
  private readonly caches: Map<string, ProfileCache> | LRUCache<string, ProfileCache>;
  private readonly truths: Map<string, MeasurementTable> | LRUCache<string, MeasurementTable>;

  constructor(backend: ProfileBackend, options: { readonly maxKeys?: number } = {}) {
    this.backend = backend;
    const max = options.maxKeys;
    this.caches = max ? new LRUCache<string, ProfileCache>({ max }) : new Map();
    this.truths = max ? new LRUCache<string, MeasurementTable>({ max }) : new Map();
  }

  /** Keys cached now. */
  get size(): number {
    return this.caches.size;
  }

  cache(key: TableKey): ProfileCache {
    const text = tableKeyText(key);
    let c = this.caches.get(text);
    if (!c) {
      c = new ProfileCache(this.backend, key);
      this.caches.set(text, c);
    }
    return c;
  }

  /** The backend's ground truth for a key (computed once), or undefined when it has none. */
  truth(key: TableKey): MeasurementTable | undefined {
    if (!this.backend.groundTruth) return undefined;
    const text = tableKeyText(key);
    let t = this.truths.get(text);
    if (!t) {
      t = this.backend.groundTruth(key);
      this.truths.set(text, t);
    }
    return t;
  }

  /** Drops the caches of a key (the bench does this when it moves to the next key). */
  forget(key: TableKey): void {
    const text = tableKeyText(key);
    this.caches.delete(text);
    this.truths.delete(text);
  }
}
