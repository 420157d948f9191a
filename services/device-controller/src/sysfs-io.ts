import { access, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * Reads and writes sysfs/procfs/debugfs files by their real-board path ('/sys/...'), under a root
 * directory: `/` on a board, a fake tree in tests. Every path the backend touches goes through
 * one of these, so nothing escapes the configured root.
 */
export interface SysfsIo {
  /** The directory real-board paths are resolved under (absolute). */
  readonly root: string;
  /** The file's text, trimmed of trailing NULs and whitespace. */
  read(path: string): Promise<string>;
  /** Writes `value` as `echo value > path` would; never creates a file. */
  write(path: string, value: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Entry names of a directory (files, directories and links), sorted; [] if it does not exist. */
  list(path: string): Promise<string[]>;
}

/** The errno codes a sysfs store/show returns that callers distinguish. */
export type SysfsErrorCode = 'EACCES' | 'EPERM' | 'EINVAL' | 'EBUSY' | 'ENOENT' | 'EROFS' | 'EIO' | string;

/** A failed read or write of one file, with the real-board path, the value and the errno. */
export class SysfsError extends Error {
  override readonly name = 'SysfsError';
  readonly code: SysfsErrorCode;
  readonly op: 'read' | 'write';
  readonly path: string;
  readonly value: string | undefined;

  constructor(op: 'read' | 'write', path: string, code: SysfsErrorCode, value?: string, detail?: string) {
    const what = op === 'write' ? `write ${JSON.stringify(value)} to ${path}` : `read ${path}`;
    super(`cannot ${what}: ${describeErrno(code)} (${code})${detail ? `; ${detail}` : ''}`);
    this.code = code;
    this.op = op;
    this.path = path;
    this.value = value;
  }

  /** EACCES/EPERM/EROFS: the process lacks the right to write, not a bad value. */
  get isPermission(): boolean {
    return this.code === 'EACCES' || this.code === 'EPERM' || this.code === 'EROFS';
  }
}

function describeErrno(code: string): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'EINVAL':
      return 'the kernel rejected the value';
    case 'EBUSY':
      return 'device busy (e.g. a cpufreq policy whose CPUs are all offline)';
    case 'ENOENT':
      return 'no such file';
    default:
      return 'I/O error';
  }
}

/** Trims what sysfs and the device tree append: newlines, spaces and NUL terminators. */
export function cleanSysfsText(text: string): string {
  return text.replace(/[\s\0]+$/u, '');
}

/** Plain file access under a root: exactly what a root process on a board does. */
export class RealSysfsIo implements SysfsIo {
  readonly root: string;

  constructor(root = '/') {
    this.root = resolve(root);
  }

  /** The host path of a real-board path. */
  hostPath(path: string): string {
    if (!isAbsolute(path)) throw new Error(`sysfs paths are absolute board paths, got ${JSON.stringify(path)}`);
    if (path.split('/').includes('..')) throw new Error(`sysfs path must not contain '..': ${path}`);
    return this.root === '/' ? path : join(this.root, path);
  }

  async read(path: string): Promise<string> {
    try {
      return cleanSysfsText(await readFile(this.hostPath(path), 'latin1'));
    } catch (err) {
      throw new SysfsError('read', path, errnoOf(err));
    }
  }

  async write(path: string, value: string): Promise<void> {
    const host = this.hostPath(path);
    // sysfs never creates attributes: a missing file is an error, not a new file.
    try {
      await stat(host);
    } catch (err) {
      throw new SysfsError('write', path, errnoOf(err), value);
    }
    try {
      // Same open flags as the shell's `echo value > path` (O_WRONLY|O_CREAT|O_TRUNC), which sysfs accepts.
      await writeFile(host, value);
    } catch (err) {
      throw new SysfsError('write', path, errnoOf(err), value);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await access(this.hostPath(path), constants.F_OK);
      return true;
    } catch {
      return false;
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      return (await readdir(this.hostPath(path))).sort(naturalCompare);
    } catch {
      return [];
    }
  }
}

export function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/** `cpu2` < `cpu10`, `hwmon1` < `hwmon12`. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Numbers of a whitespace-separated list (`scaling_available_frequencies`, `possible_rates`); other tokens are skipped. */
export function parseNumberList(text: string): number[] {
  return text
    .split(/\s+/u)
    .filter((t) => /^\d+$/u.test(t))
    .map(Number);
}

/** `0-3,6` → [0,1,2,3,6]; also accepts space-separated lists (`related_cpus`). */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(/[\s,]+/u)) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/u.exec(part);
    if (!m) throw new Error(`not a CPU list: ${JSON.stringify(text)}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return cpus;
}

export async function readInt(io: SysfsIo, path: string): Promise<number> {
  const text = await io.read(path);
  const value = Number(text.split(/\s+/u)[0]);
  if (!Number.isFinite(value)) throw new SysfsError('read', path, 'EINVAL', undefined, `not a number: ${JSON.stringify(text)}`);
  return value;
}

export async function readOptional(io: SysfsIo, path: string): Promise<string | undefined> {
  try {
    return await io.read(path);
  } catch {
    return undefined;
  }
}
