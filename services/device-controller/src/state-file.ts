import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PowerMode } from '@fulcrum/core';
import { makeFolders } from '@fulcrum/core/internal';
import type { JetsonBoard } from './discover.js';
import type { KnobReadout, RawKnobState } from './knobs.js';
import { BOOT_ID } from './paths.js';
import { readOptional, type SysfsIo } from './sysfs-io.js';

/**
 * The knobs as they were before Fulcrum first changed them. Written before the first write of a
 * session, removed after a successful restore; a file found at start means an earlier session
 * did not restore (a crash, a kill -9, a one-shot `fulcrum device set`).
 */
export interface SavedKnobState {
  readonly version: 1;
  readonly board: string;
  readonly model: string;
  /** `/proc/sys/kernel/random/boot_id` when saved: after a reboot the knobs are at boot defaults and the file is stale. */
  readonly bootId?: string;
  readonly savedAt: string;
  readonly savedByPid: number;
  /** The mode the saved knobs describe. */
  readonly mode: PowerMode;
  readonly pinned: boolean;
  readonly state: RawKnobState;
}

export interface StateFileRead {
  readonly saved?: SavedKnobState;
  /** Why an existing file was ignored (another boot, another board, unreadable). */
  readonly ignored?: string;
}

/**
 * Default place of the state file: `<root>/run/fulcrum/jetson-state.json`. /run is a tmpfs, so a
 * reboot clears it (the boot id check covers systems where it is not); under a fake root it lands
 * inside the fake tree.
 */
export function defaultStateFilePath(root: string): string {
  return join(root, 'run/fulcrum/jetson-state.json');
}

export class StateFile {
  constructor(
    readonly path: string,
    private readonly io: SysfsIo,
  ) {}

  private async bootId(): Promise<string | undefined> {
    return (await readOptional(this.io, BOOT_ID))?.trim() || undefined;
  }

  async read(board: JetsonBoard): Promise<StateFileRead> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch {
      return {};
    }
    let saved: SavedKnobState;
    try {
      saved = JSON.parse(text) as SavedKnobState;
      if (saved.version !== 1 || typeof saved.state !== 'object') throw new Error('unknown format');
    } catch (err) {
      return { ignored: `state file ${this.path} is unreadable (${err instanceof Error ? err.message : String(err)})` };
    }
    const bootId = await this.bootId();
    if (saved.bootId && bootId && saved.bootId !== bootId) {
      return { ignored: `state file ${this.path} was written during another boot (${saved.bootId}); the knobs are at this boot's defaults` };
    }
    if (saved.board !== board.identity.id) {
      return { ignored: `state file ${this.path} belongs to board ${saved.board}, this is ${board.identity.id}` };
    }
    return { saved };
  }

  async save(board: JetsonBoard, readout: KnobReadout): Promise<SavedKnobState> {
    const bootId = await this.bootId();
    const saved: SavedKnobState = {
      version: 1,
      board: board.identity.id,
      model: board.identity.model,
      ...(bootId ? { bootId } : {}),
      savedAt: new Date().toISOString(),
      savedByPid: process.pid,
      mode: readout.mode,
      pinned: readout.pinned,
      state: readout.raw,
    };
    makeFolders(dirname(this.path), 0o750);
    // Write then rename: a crash mid-write never leaves half a file where the original state should be.
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(saved, null, 2) + '\n', { mode: 0o640 });
    await rename(tmp, this.path);
    return saved;
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
