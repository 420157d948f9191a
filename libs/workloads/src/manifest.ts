/**
 * The workload manifest (`fulcrum.yaml`, YAML or JSON; docs/WORKLOADS.md): parsed, checked and
 * turned into a `WorkloadManifest` with the units in the names. Every error is a ValidationError
 * naming the manifest's own key (`infer.batch_sizes[2]`), never a stack trace.
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { ValidationError, NAME_RULE, PROBLEM_LIMITS } from '@fulcrum/core';
import { TRAINING_COST_FACTOR } from '@fulcrum/devices/internal';

/** Input dtypes the workers can generate and onnxruntime can feed. */
export const INPUT_DTYPES = ['float32', 'float16', 'int64', 'int32', 'uint8'] as const;
export type InputDtype = (typeof INPUT_DTYPES)[number];

/** A shared `cost:` is one inference pass; a training minibatch costs TRAINING_COST_FACTOR× as much (the virtual board's, Pagoda's model.py). */
export { TRAINING_COST_FACTOR };

/** Documented limits of a manifest. */
export const MANIFEST_LIMITS = {
  /** Bytes of the manifest file. */
  maxBytes: 64 * 1024,
  /** Candidate inference batch sizes. */
  maxBatchSizes: 64,
  /** Largest batch size a manifest may name (core's PROBLEM_LIMITS.maxBatchSize). */
  maxBatchSize: PROBLEM_LIMITS.maxBatchSize,
  /** Dimensions of one sample. */
  maxInputRank: 8,
  /** Values in one sample. */
  maxInputValues: 64 * 1024 * 1024,
} as const;

const positiveInt = z.number().int().positive();
const batchSize = positiveInt.max(MANIFEST_LIMITS.maxBatchSize);
const costPart = z.strictObject({
  flops_per_sample: z.number().positive(),
  bytes_per_sample: z.number().positive(),
  flops_per_batch: z.number().min(0).optional(),
  param_bytes: z.number().min(0).optional(),
});
const SHARED_COST_KEYS = ['flops_per_sample', 'bytes_per_sample', 'flops_per_batch', 'param_bytes'] as const;
/** What the virtual board borrows constants by: the operator count (≈ kernels) and what carries the FLOPs. */
export const COMPUTE_CLASSES = ['conv', 'matmul', 'recurrent'] as const;
const costShape = {
  operators: z.number().int().positive().max(1_000_000).optional(),
  compute_class: z.enum(COMPUTE_CLASSES).optional(),
};
const relativeFile = z
  .string()
  .min(1)
  .max(255)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), 'must be a file inside the workload folder (no absolute path, no "..")');

export const manifestSchema = z.strictObject({
  name: z.string().regex(NAME_RULE, "must be 1–64 letters, digits, '_', '.' or '-'"),
  display_name: z.string().min(1).max(128).optional(),
  description: z.string().max(1024).optional(),
  approximation: z.string().max(1024).optional(),
  module: relativeFile.default('workload.py'),
  train: z
    .strictObject({
      batch_size: batchSize.default(32),
      /** The largest training minibatch the model takes on the target board (memory); problems may not ask more. */
      max_batch_size: batchSize.optional(),
      lr: z.number().positive().optional(),
    })
    .optional(),
  infer: z
    .strictObject({
      batch_sizes: z.array(batchSize).min(1).max(MANIFEST_LIMITS.maxBatchSizes).default([1, 2, 4, 8, 16]),
      /** The largest inference minibatch the model takes (memory, or an ONNX export's batch bound). */
      max_batch_size: batchSize.optional(),
      onnx: relativeFile.optional(),
      input: z
        .strictObject({
          shape: z.array(positiveInt).min(1).max(MANIFEST_LIMITS.maxInputRank),
          dtype: z.enum(INPUT_DTYPES).default('float32'),
        })
        .optional(),
    })
    .optional(),
  // One object with both forms' keys (not a union, whose errors would say "Invalid input" for the
  // pair, or blame the other form): the shared keys, or train:/infer: parts, checked below.
  cost: z
    .strictObject({ ...costPart.partial().shape, train: costPart.optional(), infer: costPart.optional(), ...costShape })
    .superRefine((c, ctx) => {
      const shared = SHARED_COST_KEYS.filter((k) => c[k] !== undefined);
      if (shared.length > 0 && (c.train || c.infer)) {
        ctx.addIssue({ code: 'custom', path: [c.train ? 'train' : 'infer'], message: `a shared cost (${shared.join(', ')}) or per-kind train:/infer: parts, not both` });
      } else if (shared.length > 0) {
        for (const k of ['flops_per_sample', 'bytes_per_sample'] as const) if (c[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is required (with the shared form of cost:)' });
      } else if (!c.train && !c.infer) {
        ctx.addIssue({ code: 'custom', path: [], message: 'needs flops_per_sample and bytes_per_sample (shared), or a train: or infer: part' });
      }
    })
    .optional(),
});

export type ManifestInput = z.input<typeof manifestSchema>;

export interface WorkloadCostSpec {
  readonly flopsPerSample: number;
  readonly bytesPerSample: number;
  readonly flopsPerBatch: number;
  readonly paramBytes: number;
}

/** A checked manifest, in Fulcrum's naming. */
export interface WorkloadManifest {
  readonly name: string;
  readonly displayName: string;
  readonly description?: string;
  readonly approximation?: string;
  /** The Python module, relative to the folder. */
  readonly module: string;
  /** Whether the manifest names the module itself (else `workload.py` by default). */
  readonly moduleGiven: boolean;
  readonly train?: { readonly batchSize: number; readonly maxBatchSize?: number; readonly lr?: number };
  readonly infer?: {
    readonly batchSizes: readonly number[];
    readonly maxBatchSize?: number;
    /** The ONNX file, relative to the folder. */
    readonly onnx?: string;
    readonly input?: { readonly shape: readonly number[]; readonly dtype: InputDtype };
  };
  /**
   * FLOPs/bytes for the virtual board, per kind (a shared `cost:` is inference; training 3× it),
   * and optionally the operator count of one inference pass and the compute class (what the
   * virtual board borrows its constants by; else counted on the ONNX graph, if any).
   */
  readonly cost?: {
    readonly train?: WorkloadCostSpec;
    readonly infer?: WorkloadCostSpec;
    readonly operators?: number;
    readonly computeClass?: (typeof COMPUTE_CLASSES)[number];
  };
  /** The manifest as parsed (snake_case), handed to the Python module as ctx.manifest. */
  readonly raw: Readonly<Record<string, unknown>>;
}

function zodPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

function costFrom(part: z.output<typeof costPart> | undefined): WorkloadCostSpec | undefined {
  if (!part) return undefined;
  return { flopsPerSample: part.flops_per_sample, bytesPerSample: part.bytes_per_sample, flopsPerBatch: part.flops_per_batch ?? 0, paramBytes: part.param_bytes ?? 0 };
}

/**
 * Checks a parsed manifest. `file` prefixes every field (`fulcrum.yaml: infer.batch_sizes[2]`).
 */
export function checkManifest(data: unknown, file = 'fulcrum.yaml'): WorkloadManifest {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ValidationError(file, 'must be a mapping (name: …, train: …, infer: …)');
  }
  const parsed = manifestSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = zodPath(issue.path);
    let reason = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys?: string[] }).keys ?? [];
      throw new ValidationError(`${file}: ${key ? `${key}.` : ''}${keys[0] ?? '?'}`, 'unknown key (see docs/WORKLOADS.md for the manifest keys)');
    }
    if (issue.code === 'invalid_type' && /received undefined/.test(reason)) reason = 'is required';
    throw new ValidationError(`${file}: ${key || 'manifest'}`, reason);
  }
  const m = parsed.data;
  if (!m.train && !m.infer) throw new ValidationError(`${file}: train`, 'a workload needs a train: section, an infer: section, or both');
  if (m.infer?.input) {
    const values = m.infer.input.shape.reduce((a, b) => a * b, 1);
    if (values > MANIFEST_LIMITS.maxInputValues) throw new ValidationError(`${file}: infer.input.shape`, `one sample of ${values} values is over the limit of ${MANIFEST_LIMITS.maxInputValues}`);
  }
  if (m.infer && new Set(m.infer.batch_sizes).size !== m.infer.batch_sizes.length) {
    throw new ValidationError(`${file}: infer.batch_sizes`, 'lists a batch size twice');
  }
  if (m.train?.max_batch_size !== undefined && m.train.batch_size > m.train.max_batch_size) {
    throw new ValidationError(`${file}: train.batch_size`, `${m.train.batch_size} is over train.max_batch_size ${m.train.max_batch_size}`);
  }
  const inferMax = m.infer?.max_batch_size;
  const overMax = inferMax === undefined ? -1 : m.infer!.batch_sizes.findIndex((b) => b > inferMax);
  if (overMax >= 0) throw new ValidationError(`${file}: infer.batch_sizes[${overMax}]`, `${m.infer!.batch_sizes[overMax]} is over infer.max_batch_size ${inferMax}`);
  let cost: WorkloadManifest['cost'];
  if (m.cost) {
    if (m.cost.flops_per_sample !== undefined) {
      // One inference pass; training counts TRAINING_COST_FACTOR× (forward + two backward passes).
      const c = costFrom(m.cost as z.output<typeof costPart>)!;
      const f = TRAINING_COST_FACTOR;
      cost = { infer: c, train: { flopsPerSample: f * c.flopsPerSample, bytesPerSample: f * c.bytesPerSample, flopsPerBatch: f * c.flopsPerBatch, paramBytes: f * c.paramBytes } };
    } else {
      const per = m.cost;
      cost = { ...(per.train ? { train: costFrom(per.train) } : {}), ...(per.infer ? { infer: costFrom(per.infer) } : {}) };
    }
    const shape = m.cost as { operators?: number; compute_class?: (typeof COMPUTE_CLASSES)[number] };
    cost = { ...cost, ...(shape.operators !== undefined ? { operators: shape.operators } : {}), ...(shape.compute_class ? { computeClass: shape.compute_class } : {}) };
  }
  return {
    name: m.name,
    displayName: m.display_name ?? m.name,
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.approximation !== undefined ? { approximation: m.approximation } : {}),
    module: m.module,
    moduleGiven: 'module' in (data as Record<string, unknown>),
    ...(m.train
      ? { train: { batchSize: m.train.batch_size, ...(m.train.max_batch_size !== undefined ? { maxBatchSize: m.train.max_batch_size } : {}), ...(m.train.lr !== undefined ? { lr: m.train.lr } : {}) } }
      : {}),
    ...(m.infer
      ? {
          infer: {
            batchSizes: [...m.infer.batch_sizes].sort((a, b) => a - b),
            ...(m.infer.max_batch_size !== undefined ? { maxBatchSize: m.infer.max_batch_size } : {}),
            ...(m.infer.onnx !== undefined ? { onnx: m.infer.onnx } : {}),
            ...(m.infer.input ? { input: { shape: m.infer.input.shape, dtype: m.infer.input.dtype } } : {}),
          },
        }
      : {}),
    ...(cost ? { cost } : {}),
    raw: m as Record<string, unknown>,
  };
}

/** Parses manifest text (YAML, which JSON is a subset of). */
export function parseManifest(text: string, file = 'fulcrum.yaml'): WorkloadManifest {
  if (Buffer.byteLength(text) > MANIFEST_LIMITS.maxBytes) throw new ValidationError(file, `is larger than ${MANIFEST_LIMITS.maxBytes} bytes`);
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    throw new ValidationError(file, `is not valid YAML/JSON: ${first}`);
  }
  return checkManifest(data, file);
}
