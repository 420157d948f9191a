/**
 * Output paths checked before long work starts (a benchmark sweep, a demo run): a path that could
 * not be written is a UsageError on its flag now, not a stack trace after minutes of work.
 */
import { closeSync, lstatSync, openSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { makeFolders } from '@fulcrum/core/internal';
import { UsageError } from './usage.js';

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'cannot be created there';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a file is in the way of its folder';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'not writable';
  return (err as Error).message;
}

/**
 * `path` can be written as a file: its folder is made (as the write would) and the file opened for
 * appending (an existing one) or created and removed again (a new one). A folder at `path` is
 * refused; a symbolic link is left as it is (what it points at is the write's to judge).
 */
export function checkOutputFile(path: string, flag: string): void {
  let present: Stats | undefined;
  try {
    present = lstatSync(path);
  } catch {
    // not there: created and removed below
  }
  if (present?.isSymbolicLink()) return;
  if (present?.isDirectory()) throw new UsageError(`${flag}: ${path} is a folder; give a file name`);
  try {
    makeFolders(dirname(path));
    // 'wx' creates only what is not there, so the unlink removes only what this check made.
    closeSync(openSync(path, present ? 'a' : 'wx'));
    if (!present) unlinkSync(path);
  } catch (err) {
    throw new UsageError(`${flag}: cannot write ${path}: ${reason(err)}`);
  }
}

/** `path` is, or can be made, a folder files can be written into (made now; a file there is refused). */
export function checkOutputDir(path: string, flag: string): void {
  try {
    if (!statSync(path).isDirectory()) throw new UsageError(`${flag}: ${path} is a file; give a folder`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
  }
  const probe = `${path}/.fulcrum-write-check-${process.pid}`;
  try {
    makeFolders(path);
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
  } catch (err) {
    throw new UsageError(`${flag}: cannot write into ${path}: ${reason(err)}`);
  }
}
