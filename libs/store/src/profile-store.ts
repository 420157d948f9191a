/**
 * The profile store (SPEC §4): every measured result, keyed by (device, software stack,
 * workload, kind, batch size, power mode), so a mode is never profiled twice for the same key.
 */
import { ValidationError, formatPowerMode, type PowerMode, type ProfileFilter, type ProfileKey, type WorkloadKind } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { validateEvent, validateToken, type ProfileResult } from '@fulcrum/bus/internal';

export type { ProfileResult, ProfileKey, ProfileFilter } from '@fulcrum/core';

export type ProfileStoreBackend = 'sqlite' | 'kv';

export interface ProfileStore {
  readonly backend: ProfileStoreBackend;
  /** The stored result for `key`, or undefined. */
  get(key: ProfileKey): Promise<ProfileResult | undefined>;
  /** Stores `result` under its key, replacing what was there (a deliberate re-measurement). */
  put(result: ProfileResult): Promise<void>;
  /** Stores `result` unless its key already holds one; true when stored. The first result wins. */
  putIfAbsent(result: ProfileResult): Promise<boolean>;
  /** Stored results matching the filter, ordered by key (device, stack, workload, kind, batch size, mode). */
  query(filter?: ProfileFilter): Promise<ProfileResult[]>;
  /** Removes the result for `key`; true when there was one. */
  delete(key: ProfileKey): Promise<boolean>;
  /** Releases the store (closes the database; a KV store leaves the bus to its owner). */
  close(): Promise<void>;
}

function text(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw new ValidationError(field, `must be a non-empty string of at most 256 characters, got ${describeValue(value)}`);
  }
  return value;
}

function kindOf(field: string, value: unknown): WorkloadKind {
  if (value !== 'train' && value !== 'infer') throw new ValidationError(field, `must be "train" or "infer", got ${describeValue(value)}`);
  return value;
}

function batchSizeOf(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw new ValidationError(field, `must be a positive integer, got ${describeValue(value)}`);
  return value;
}

function modeOf(field: string, value: unknown): PowerMode {
  if (typeof value !== 'object' || value === null) throw new ValidationError(field, `must be a power mode {cores, cpuMhz, gpuMhz, emcMhz}, got ${describeValue(value)}`);
  const m = value as Record<string, unknown>;
  const positive = (knob: string): number => {
    const v = m[knob];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ValidationError(`${field}.${knob}`, `must be a positive number, got ${describeValue(v)}`);
    return v;
  };
  const cores = positive('cores');
  if (!Number.isInteger(cores)) throw new ValidationError(`${field}.cores`, `must be a whole number of cores, got ${cores}`);
  return { cores, cpuMhz: positive('cpuMhz'), gpuMhz: positive('gpuMhz'), emcMhz: positive('emcMhz') };
}

export function validateProfileKey(key: unknown, field = 'key'): ProfileKey {
  if (typeof key !== 'object' || key === null) throw new ValidationError(field, `must be a profile key, got ${describeValue(key)}`);
  const k = key as Record<string, unknown>;
  return {
    device: validateToken(`${field}.device`, k['device']),
    softwareStack: text(`${field}.softwareStack`, k['softwareStack']),
    workload: text(`${field}.workload`, k['workload']),
    kind: kindOf(`${field}.kind`, k['kind']),
    batchSize: batchSizeOf(`${field}.batchSize`, k['batchSize']),
    mode: modeOf(`${field}.mode`, k['mode']),
  };
}

export function validateProfileFilter(filter: unknown, field = 'filter'): ProfileFilter {
  if (filter === undefined) return {};
  if (typeof filter !== 'object' || filter === null) throw new ValidationError(field, `must be an object, got ${describeValue(filter)}`);
  const f = filter as Record<string, unknown>;
  const opt = <T>(name: string, check: (field: string, value: unknown) => T): T | undefined =>
    f[name] === undefined ? undefined : check(`${field}.${name}`, f[name]);
  return {
    device: opt('device', validateToken),
    softwareStack: opt('softwareStack', text),
    workload: opt('workload', text),
    kind: opt('kind', kindOf),
    batchSize: opt('batchSize', batchSizeOf),
    mode: opt('mode', modeOf),
  };
}

/** Checks a result before it is stored; `ValidationError` names the field (e.g. `result.timeMs`). */
export function validateProfileResult(result: unknown, field = 'result'): ProfileResult {
  try {
    return validateEvent('profile.completed', result);
  } catch (err) {
    if (err instanceof ValidationError) throw err.renamed(err.field === 'payload' ? field : `${field}.${err.field}`);
    throw err;
  }
}

/** The key part of a result (or of any object carrying a key's fields), without the rest. */
export function profileKeyOf(result: ProfileKey): ProfileKey {
  const { device, softwareStack, workload, kind, batchSize, mode } = result;
  return { device, softwareStack, workload, kind, batchSize, mode };
}

/** One line naming a key, for logs and errors. */
export function describeProfileKey(key: ProfileKey): string {
  return `${key.device}/${key.softwareStack}/${key.workload}/${key.kind}/b${key.batchSize}/${formatPowerMode(key.mode)}`;
}

function compareModes(a: PowerMode, b: PowerMode): number {
  return a.cores - b.cores || a.cpuMhz - b.cpuMhz || a.gpuMhz - b.gpuMhz || a.emcMhz - b.emcMhz;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The order `query` returns results in. */
export function compareProfileKeys(a: ProfileKey, b: ProfileKey): number {
  return (
    cmp(a.device, b.device) ||
    cmp(a.softwareStack, b.softwareStack) ||
    cmp(a.workload, b.workload) ||
    cmp(a.kind, b.kind) ||
    a.batchSize - b.batchSize ||
    compareModes(a.mode, b.mode)
  );
}

export function matchesFilter(result: ProfileResult, filter: ProfileFilter): boolean {
  const m = filter.mode;
  return (
    (filter.device === undefined || result.device === filter.device) &&
    (filter.softwareStack === undefined || result.softwareStack === filter.softwareStack) &&
    (filter.workload === undefined || result.workload === filter.workload) &&
    (filter.kind === undefined || result.kind === filter.kind) &&
    (filter.batchSize === undefined || result.batchSize === filter.batchSize) &&
    (m === undefined || compareModes(result.mode, m) === 0)
  );
}
