import type { PowerMode } from '@fulcrum/core';
import { discoverJetson, type JetsonBoard } from './discover.js';
import { KnobWriteError, applyMode, readKnobs, restoreKnobs, type KnobOptions, type KnobReadout, type ModeSwitchResult, type WriteRecord } from './knobs.js';
import { StateFile, defaultStateFilePath, type SavedKnobState, type StateFileRead } from './state-file.js';
import type { SysfsIo } from './sysfs-io.js';

export interface RestoreResult {
  /** False when there was nothing saved to restore. */
  readonly restored: boolean;
  /** The mode the knobs are in afterwards (read back). */
  readonly mode: PowerMode;
  readonly reason: string;
  readonly savedAt?: string;
  readonly switchMs?: number;
  readonly writes?: readonly WriteRecord[];
}

export interface SavedStateSummary {
  readonly stateFile: string;
  readonly saved?: Pick<SavedKnobState, 'savedAt' | 'mode' | 'pinned' | 'savedByPid'>;
  readonly ignored?: string;
}

/**
 * The privileged half of the Jetson backend: the knobs and the saved original state. Implemented
 * in-process (LocalKnobDriver: as root, or against a fake tree) or by the helper process
 * (HelperClient), so the unprivileged controller never needs root.
 */
export interface JetsonKnobDriver {
  readonly location: 'local' | 'helper';
  describe(): Promise<JetsonBoard>;
  read(): Promise<KnobReadout>;
  /** Saves the original state if none is saved yet, then switches (validated on the grid, read back). */
  apply(mode: PowerMode): Promise<ModeSwitchResult>;
  /** Puts back the saved original state and forgets it; a no-op when nothing is saved. */
  restore(): Promise<RestoreResult>;
  savedState(): Promise<SavedStateSummary>;
  close(): Promise<void>;
}

export interface LocalKnobDriverOptions extends KnobOptions {
  readonly io: SysfsIo;
  /** Default: `<root>/run/fulcrum/jetson-state.json`. */
  readonly stateFile?: string;
}

/** Runs one operation at a time: a switch and a restore must never interleave their writes. */
export class Serializer {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class LocalKnobDriver implements JetsonKnobDriver {
  readonly location = 'local' as const;
  private readonly serial = new Serializer();

  private constructor(
    readonly io: SysfsIo,
    readonly board: JetsonBoard,
    readonly stateFile: StateFile,
    private readonly options: KnobOptions,
  ) {}

  static async open(options: LocalKnobDriverOptions): Promise<LocalKnobDriver> {
    const board = await discoverJetson(options.io);
    const stateFile = new StateFile(options.stateFile ?? defaultStateFilePath(options.io.root), options.io);
    return new LocalKnobDriver(options.io, board, stateFile, options);
  }

  async describe(): Promise<JetsonBoard> {
    return this.board;
  }

  read(): Promise<KnobReadout> {
    return readKnobs(this.io, this.board);
  }

  apply(mode: PowerMode): Promise<ModeSwitchResult> {
    return this.serial.run(async () => {
      const { saved } = await this.stateFile.read(this.board);
      let savedNow = false;
      if (!saved) {
        await this.stateFile.save(this.board, await readKnobs(this.io, this.board));
        savedNow = true;
      }
      try {
        return await applyMode(this.io, this.board, mode, this.options);
      } catch (err) {
        // Nothing changed (refused before writing, or every write undone): a state file saved just
        // now would only make the next start "restore" what is already there.
        const untouched = !(err instanceof KnobWriteError) || err.rollbackFailures.length === 0;
        if (savedNow && untouched && !(err instanceof Error && err.name === 'KnobMismatchError')) await this.stateFile.remove();
        throw err;
      }
    });
  }

  restore(): Promise<RestoreResult> {
    return this.serial.run(async () => {
      const { saved, ignored } = await this.stateFile.read(this.board);
      if (!saved) {
        if (ignored) await this.stateFile.remove();
        const now = await readKnobs(this.io, this.board);
        return { restored: false, mode: now.mode, reason: ignored ?? 'no saved state: the knobs were not changed by Fulcrum' };
      }
      const result = await restoreKnobs(this.io, this.board, saved.state);
      await this.stateFile.remove();
      return {
        restored: true,
        mode: result.mode,
        reason: `restored the state saved at ${saved.savedAt}`,
        savedAt: saved.savedAt,
        switchMs: result.switchMs,
        writes: result.writes,
      };
    });
  }

  async savedState(): Promise<SavedStateSummary> {
    const read: StateFileRead = await this.stateFile.read(this.board);
    return {
      stateFile: this.stateFile.path,
      ...(read.saved
        ? { saved: { savedAt: read.saved.savedAt, mode: read.saved.mode, pinned: read.saved.pinned, savedByPid: read.saved.savedByPid } }
        : {}),
      ...(read.ignored ? { ignored: read.ignored } : {}),
    };
  }

  async close(): Promise<void> {
    await this.serial.run(async () => undefined);
  }
}
