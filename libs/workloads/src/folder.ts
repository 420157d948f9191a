/**
 * Workload folders (docs/WORKLOADS.md): a manifest, a Python module, optionally an ONNX file.
 * `loadWorkloadFolder` checks one; `findWorkloadFolders` takes a folder that is a workload folder
 * or holds workload folders one level down; `contentHash` fingerprints a folder's files.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { ValidationError } from '@fulcrum/core';
import { MANIFEST_LIMITS, parseManifest, type WorkloadManifest } from './manifest.js';

/** The manifest's file names, in the order they are looked for. */
export const MANIFEST_FILES = ['fulcrum.yaml', 'fulcrum.yml', 'fulcrum.json'] as const;

/** Limits of a folder's content hash. */
export const FOLDER_LIMITS = {
  /** Files hashed in one folder (sub-folders included). */
  maxFiles: 10_000,
  /** Bytes hashed in one folder. */
  maxBytes: 8 * 1024 ** 3,
} as const;

export interface WorkloadFolder {
  /** Absolute path of the folder. */
  readonly dir: string;
  /** The manifest's path. */
  readonly manifestPath: string;
  readonly manifest: WorkloadManifest;
  /** Shipped with Fulcrum (libs/workloads/builtin). */
  readonly builtin: boolean;
  /**
   * Absolute path of the Python module; absent only for an inference-only folder served from its
   * ONNX file with no module in it.
   */
  readonly modulePath?: string;
  /** Absolute path of the ONNX file, when the manifest names one. */
  readonly onnxPath?: string;
  /** sha256 of the folder's files (hex); computed on first use. */
  contentHash(): string;
}

function manifestPathIn(dir: string): string | undefined {
  for (const f of MANIFEST_FILES) {
    const p = join(dir, f);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Whether `dir` holds a manifest. */
export function isWorkloadFolder(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && manifestPathIn(dir) !== undefined;
  } catch {
    return false;
  }
}

const SKIP = new Set(['__pycache__', '.git', '.ipynb_checkpoints', 'node_modules']);

/** sha256 over the sorted relative paths and bytes of the folder's files (skipping caches). */
export function contentHash(dir: string): string {
  const files: string[] = [];
  let bytes = 0;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (SKIP.has(entry.name) || entry.name.endsWith('.pyc')) continue;
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) {
        files.push(p);
        bytes += statSync(p).size;
        if (files.length > FOLDER_LIMITS.maxFiles) throw new ValidationError(dir, `holds more than ${FOLDER_LIMITS.maxFiles} files (the limit of a workload folder)`);
        if (bytes > FOLDER_LIMITS.maxBytes) throw new ValidationError(dir, `holds more than ${FOLDER_LIMITS.maxBytes} bytes (the limit of a workload folder)`);
      }
    }
  };
  walk(dir);
  const h = createHash('sha256');
  for (const f of files) {
    h.update(relative(dir, f).split(sep).join('/'));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

/**
 * Loads and checks one workload folder: the manifest (errors name `<dir>/fulcrum.yaml: <key>`),
 * the module file and the ONNX file it names.
 */
export function loadWorkloadFolder(dir: string, options: { builtin?: boolean } = {}): WorkloadFolder {
  const abs = resolve(dir);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw new ValidationError(dir, 'no such workload folder');
  }
  if (!st.isDirectory()) throw new ValidationError(dir, 'is not a folder (a workload is a folder holding fulcrum.yaml and workload.py)');
  const manifestPath = manifestPathIn(abs);
  if (!manifestPath) throw new ValidationError(dir, `holds no manifest (${MANIFEST_FILES.join(', ')})`);
  const size = statSync(manifestPath).size;
  if (size > MANIFEST_LIMITS.maxBytes) throw new ValidationError(manifestPath, `is larger than ${MANIFEST_LIMITS.maxBytes} bytes`);
  const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
  let modulePath: string | undefined = join(abs, manifest.module);
  if (!existsSync(modulePath)) {
    // An inference-only folder with an ONNX file needs no Python.
    if (!manifest.train && manifest.infer?.onnx && !manifest.moduleGiven) modulePath = undefined;
    else throw new ValidationError(`${manifestPath}: module`, `${JSON.stringify(manifest.module)} is not in the folder`);
  }
  let onnxPath: string | undefined;
  if (manifest.infer?.onnx) {
    onnxPath = join(abs, manifest.infer.onnx);
    if (!existsSync(onnxPath)) throw new ValidationError(`${manifestPath}: infer.onnx`, `${JSON.stringify(manifest.infer.onnx)} is not in the folder`);
  }
  let hash: string | undefined;
  return {
    dir: abs,
    manifestPath,
    manifest,
    builtin: options.builtin ?? false,
    ...(modulePath ? { modulePath } : {}),
    ...(onnxPath ? { onnxPath } : {}),
    contentHash: () => (hash ??= contentHash(abs)),
  };
}

/**
 * The workload folders at `path`: the folder itself when it holds a manifest, else each sub-folder
 * that does (sorted by name). A path with neither is an error naming it.
 */
export function findWorkloadFolders(path: string, options: { builtin?: boolean } = {}): WorkloadFolder[] {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new ValidationError(path, 'no such folder');
  if (manifestPathIn(abs) || !statSync(abs).isDirectory()) return [loadWorkloadFolder(path, options)];
  const subs = readdirSync(abs, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !SKIP.has(e.name) && isWorkloadFolder(join(abs, e.name)))
    .map((e) => e.name)
    .sort();
  if (subs.length === 0) throw new ValidationError(path, `is neither a workload folder nor a folder of workload folders (no ${MANIFEST_FILES[0]} in it or one level down)`);
  return subs.map((s) => loadWorkloadFolder(join(path, s), options));
}
