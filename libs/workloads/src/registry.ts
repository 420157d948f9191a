/**
 * One open registry of workloads: Fulcrum's built-in folders (libs/workloads/builtin) plus the
 * user's (`--workloads DIR[,DIR…]`, `FULCRUM_WORKLOADS`, `workloads.paths`). Every workload the
 * host engine can run, and every name a problem may use, comes from here (or from a profile table).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_CATALOG, ValidationError, catalogWith, type Catalog, type WorkloadDescriptor } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import { findWorkloadFolders, type WorkloadFolder } from './folder.js';

/** The built-in workload folders shipped with this package. */
export const BUILTIN_WORKLOADS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'builtin');

/** Splits `--workloads` / `FULCRUM_WORKLOADS` values: comma-separated, blanks dropped. */
export function parseWorkloadPaths(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  return list.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

/** A workload's descriptor (what a problem and the catalog need) from its folder. */
export function descriptorOf(folder: WorkloadFolder): WorkloadDescriptor {
  const m = folder.manifest;
  const shape = m.infer?.input?.shape;
  return {
    id: m.name,
    displayName: m.displayName,
    ...(shape ? { input: `${shape.join('×')} ${m.infer!.input!.dtype}` } : {}),
    defaultTrainBatchSize: m.train?.batchSize ?? 32,
    ...(m.train?.maxBatchSize !== undefined ? { maxTrainBatchSize: m.train.maxBatchSize } : {}),
    ...(m.infer?.maxBatchSize !== undefined ? { maxInferBatchSize: m.infer.maxBatchSize } : {}),
    // A user's folder is served at its own batch sizes; the built-in workloads keep SPEC §2's
    // default list (1…64), which the benchmark and the virtual boards are calibrated on.
    ...(!folder.builtin && m.infer?.batchSizes ? { defaultInferBatchSizes: [...m.infer.batchSizes] } : {}),
  };
}

let builtinFolders: WorkloadFolder[] | undefined;

/** The built-in folders (read once). */
export function builtinWorkloadFolders(): WorkloadFolder[] {
  return (builtinFolders ??= findWorkloadFolders(BUILTIN_WORKLOADS_DIR, { builtin: true }));
}

export class WorkloadRegistry {
  private readonly byName = new Map<string, WorkloadFolder>();

  private constructor(folders: readonly WorkloadFolder[], field: string) {
    for (const f of folders) {
      const prior = this.byName.get(f.manifest.name);
      if (prior) {
        throw new ValidationError(field, `two workload folders are named ${JSON.stringify(f.manifest.name)}: ${prior.builtin ? 'the built-in ' : ''}${prior.dir} and ${f.dir} (names must be unique)`);
      }
      this.byName.set(f.manifest.name, f);
    }
  }

  /**
   * The built-in workloads plus the folders at `paths` (each a workload folder or a folder of
   * them). Errors name `field` (e.g. `--workloads`) or the manifest's own field.
   */
  static load(paths: readonly string[] = [], options: { builtin?: boolean; field?: string } = {}): WorkloadRegistry {
    const field = options.field ?? 'workloads';
    const folders = [...(options.builtin === false ? [] : builtinWorkloadFolders())];
    for (const p of paths) folders.push(...findWorkloadFolders(p));
    return new WorkloadRegistry(folders, field);
  }

  /** Only the built-in workloads. */
  static builtin(): WorkloadRegistry {
    return WorkloadRegistry.load([]);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The folder of `name`; a ValidationError on `field` naming the known workloads otherwise. */
  get(name: string, field = 'workload'): WorkloadFolder {
    const f = this.byName.get(name);
    if (!f) throw new ValidationError(field, `unknown workload ${describeValue(name)}; known workloads: ${this.names().join(', ') || '(none)'} (add a folder with --workloads DIR)`);
    return f;
  }

  /**
   * The folder of `name`, which must have a `train:` (kind train) or `infer:` (kind infer) section;
   * a ValidationError on `field` otherwise (unknown workload, or a kind its manifest lacks).
   */
  require(name: string, kind: 'train' | 'infer', field = 'workload'): WorkloadFolder {
    const f = this.get(name, field);
    if (!f.manifest[kind]) throw new ValidationError(field, `workload ${JSON.stringify(name)} cannot be ${kind === 'train' ? 'trained' : 'served'}: ${f.manifestPath} has no ${kind}: section`);
    return f;
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  folders(): WorkloadFolder[] {
    return this.names().map((n) => this.byName.get(n)!);
  }

  /** The folders the user added (not built in). */
  userFolders(): WorkloadFolder[] {
    return this.folders().filter((f) => !f.builtin);
  }

  descriptors(): WorkloadDescriptor[] {
    return this.folders().map(descriptorOf);
  }

  /** `base` plus this registry's workloads (a name `base` has keeps the base's descriptor). */
  catalog(base: Catalog = BUILTIN_CATALOG): Catalog {
    return catalogWith(base, { workloads: this.descriptors() });
  }
}

/**
 * `<name>@<first 12 hex digits of the content hash>`: a user's folder's part of a software stack
 * (`workloadStack` in core); undefined for a built-in folder (shipped with Fulcrum's version).
 */
export function stackTagOf(folder: WorkloadFolder): string | undefined {
  return folder.builtin ? undefined : `${folder.manifest.name}@${folder.contentHash().slice(0, 12)}`;
}
