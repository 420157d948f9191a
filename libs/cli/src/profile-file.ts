/** Reading the profile table a flag names: a file that cannot be read is one line on that flag (exit 2). */
import { statSync } from 'node:fs';
import { ProfileFileError, loadProfileTable, type ProfileTable } from '@fulcrum/devices';
import { UsageError } from './usage.js';

/** `path` must be there and not a folder (a pipe such as <(…) is fine): a UsageError on `flag` saying why not. */
export function assertProfileFile(path: string, flag: string): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
  if (isFolder) throw new UsageError(`${flag}: cannot read ${path}: a folder, not a CSV file`);
}

/** The table at `path`; a file that cannot be read is a UsageError on `flag`, a bad row stays the table's error. */
export async function loadProfileFile(path: string, flag: string): Promise<ProfileTable> {
  try {
    return await loadProfileTable(path);
  } catch (err) {
    if (err instanceof ProfileFileError) throw new UsageError(`${flag}: cannot read ${path}: ${err.message}`);
    throw err;
  }
}
