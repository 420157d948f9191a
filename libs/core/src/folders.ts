/**
 * Making the folders of a path a user named (a store file, an output folder). Node's
 * `mkdir(..., { recursive: true })` spins forever where every level answers ENOENT (under /proc on
 * Linux: Node 20 loops, using a core); this makes the missing levels one at a time, bounded by the
 * path's depth, and throws the first level's error instead.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Makes the folders of `path` that are missing, from the nearest one that exists. Throws the fs
 * error of the first level that cannot be made (ENOENT where nothing can be created), ENOTDIR when a
 * file is in the way.
 */
export function makeFolders(path: string, mode?: number): void {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
      continue;
    }
    if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a folder, ${p}`), { code: 'ENOTDIR', path: p });
    break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, mode === undefined ? undefined : { mode });
    } catch (err) {
      // Another process made it in the meantime (two services starting together): fine if a folder.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw err;
    }
  }
}

/**
 * Why a file a user named could not be read, in words (no such file, a folder, permission denied),
 * else the error's own message; `what` names what was expected ("a CSV file").
 */
export function fileErrorReason(err: unknown, what = 'file'): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return `a folder, not a ${what}`;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (err as Error).message;
}
