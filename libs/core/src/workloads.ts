import { ValidationError, describeValue } from './errors.js';
import { BUILTIN_WORKLOAD_DESCRIPTORS } from './gen/builtin-workloads.js';

export type WorkloadKind = 'train' | 'infer';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['train', 'infer'];

/**
 * A DNN model Fulcrum knows how to train and serve. Time and power per minibatch come from a
 * device backend (model, profile table or board); this is only what the model *is*.
 */
export interface WorkloadDescriptor {
  readonly id: string;
  readonly displayName: string;
  /** One sample's input, e.g. `3×224×224 float32` (a folder's infer.input); absent for a table's workload. */
  readonly input?: string;
  /** The training minibatch size bT used when a problem does not give one. */
  readonly defaultTrainBatchSize: number;
  /** The largest training / inference minibatch the model takes (its manifest's `max_batch_size`); default PROBLEM_LIMITS.maxBatchSize. */
  readonly maxTrainBatchSize?: number;
  readonly maxInferBatchSize?: number;
  /**
   * The candidate inference batch sizes a problem gets when it gives none (a user's folder's
   * `infer.batch_sizes`, a profile table's inference rows); absent: DEFAULT_CANDIDATE_BATCH_SIZES
   * up to maxInferBatchSize.
   */
  readonly defaultInferBatchSizes?: readonly number[];
}

/**
 * Fulcrum's built-in workloads: generated at build time from the built-in workload folders'
 * manifests (libs/workloads/builtin/<name>/fulcrum.yaml, the one list of them), sorted by name.
 * A user's folders join them through `@fulcrum/workloads`' registry.
 */
export const WORKLOADS: readonly WorkloadDescriptor[] = BUILTIN_WORKLOAD_DESCRIPTORS;

export function workloadIds(): string[] {
  return WORKLOADS.map((w) => w.id);
}

export function getWorkload(id: string, field = 'workload'): WorkloadDescriptor {
  const workload = WORKLOADS.find((w) => w.id === id);
  if (!workload) {
    throw new ValidationError(field, `unknown workload ${describeValue(id)}; known workloads: ${workloadIds().join(', ')}`);
  }
  return workload;
}

/** What a workload name may be: letters, digits, `_`, `.` and `-`, 1–64 characters. */
export const NAME_RULE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * What a name that becomes a NATS subject token may be — devices, streams (and boards): 1–64
 * letters, digits, `-` or `_`, starting with a letter or digit; no dots, spaces or wildcards, so
 * the same name also works in a JetStream stream name and a KV key. The bus checks subjects with
 * this rule, the problem validator and the catalog check names with it: one rule.
 */
export const TOKEN_RULE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Throws a ValidationError unless `name` follows TOKEN_RULE. */
export function requireToken(field: string, name: unknown, what = 'a name'): string {
  if (typeof name !== 'string' || !TOKEN_RULE.test(name)) {
    throw new ValidationError(field, `${what} must be 1–64 letters, digits, '-' or '_', starting with a letter or digit (no dots, spaces or wildcards), got ${describeValue(name)}`);
  }
  return name;
}

/**
 * A board id from a host name (the default board id, SPEC §1): lower case, every character the
 * token rule refuses (dots of a domain, spaces) becomes `-`, leading `-`/`_` dropped, at most 64
 * characters; `board` when nothing is left. `jetson-01.lab.local` → `jetson-01-lab-local`.
 */
export function boardIdFrom(host: string): string {
  const id = host
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 64)
    .replace(/[-_]+$/, '');
  return id === '' ? 'board' : id;
}

/** Throws a ValidationError unless `name` follows NAME_RULE. */
export function requireName(field: string, name: unknown, what = 'name'): string {
  if (typeof name !== 'string' || !NAME_RULE.test(name)) {
    throw new ValidationError(field, `${what} must be 1–64 letters, digits, '_', '.' or '-', got ${describeValue(name)}`);
  }
  return name;
}

export function parseWorkloadKind(text: string, field = 'kind'): WorkloadKind {
  if (text === 'train' || text === 'infer') return text;
  throw new ValidationError(field, `must be "train" or "infer", got ${describeValue(text)}`);
}
