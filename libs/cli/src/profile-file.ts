/** Reading the profile table a flag names: a file that cannot be read is one line on that flag (exit 2). */
import { statSync } from 'node:fs';
import { ProfileFileError, loadProfileTable, type ProfileTable } from '@fulcrum/devices';
import { fileErrorReason } from '@fulcrum/core/internal';
import { UsageError } from './usage.js';

/** `path` must be there and not a folder (a pipe such as <(…) is fine): a UsageError on `flag` saying why not. For a check before the file is read elsewhere (bench's worker threads); a command that reads it here calls loadProfileFile alone. */
export function assertProfileFile(path: string, flag: string): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(path).isDirectory();
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path}: ${fileErrorReason(err)}`);
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
