import { performance } from 'node:perf_hooks';
import { ValidationError, assertOnGrid, formatPowerMode, type PowerMode } from '@fulcrum/core';
import { hzToMhz, khzToMhz, type JetsonBoard } from './discover.js';
import { BPMP_EMC_DIR, BPMP_EMC_FILES, DEVFREQ_FILES, EMC_DEBUGFS_DIR, EMC_DEBUGFS_FILES, NEVER_WRITE, POLICY_FILES, cpuOnlinePath, policyDir } from './paths.js';
import { SysfsError, readInt, readOptional, type SysfsIo } from './sysfs-io.js';

/** Which governor to put a pinned clock under. */
export type GovernorPolicy = 'performance' | 'keep';

export interface KnobOptions {
  /**
   * CPU governor while a mode is applied. `performance` (default): with min = max pinned the clock
   * cannot move anyway, and `performance` stops the governor from issuing requests at all;
   * `keep`: leave whatever governor was there (the pin still holds). Restored on restore().
   */
  readonly cpuGovernor?: GovernorPolicy;
  /** Same for the GPU devfreq governor (nvhost_podgov by default on Jetson). */
  readonly gpuGovernor?: GovernorPolicy;
}

export interface PolicyState {
  readonly policy: string;
  /** False when every CPU of the cluster is offline (its files then refuse writes). */
  readonly active: boolean;
  readonly minKhz?: number;
  readonly maxKhz?: number;
  readonly curKhz?: number;
  readonly governor?: string;
}

export type EmcState =
  | { readonly mechanism: 'bpmp-clock-lock'; readonly locked: boolean; readonly rateHz: number; readonly capHz?: number }
  | { readonly mechanism: 'emc-debugfs'; readonly minHz: number; readonly maxHz: number; readonly rateHz?: number }
  | { readonly mechanism: 'none'; readonly rateHz?: number };

/** Everything restore() needs to put the knobs back, as raw sysfs values. */
export interface RawKnobState {
  /** CPU index → online, for CPUs that have an `online` file. */
  readonly online: Readonly<Record<string, boolean>>;
  readonly policies: readonly PolicyState[];
  readonly gpu: { readonly minHz: number; readonly maxHz: number; readonly curHz?: number; readonly governor?: string };
  readonly emc: EmcState;
}

export interface KnobReadout {
  /** The mode the knobs describe (clock ceilings when a clock is not pinned). */
  readonly mode: PowerMode;
  /** True when every clock is pinned (min = max, EMC locked) and the clusters agree. */
  readonly pinned: boolean;
  readonly raw: RawKnobState;
}

export type KnobName = 'cores' | 'cpu' | 'gpu' | 'emc' | 'governor';

export interface WriteRecord {
  readonly path: string;
  readonly value: string;
  readonly knob: KnobName;
}

export interface ModeSwitchResult {
  /** The mode read back from the knobs after writing. */
  readonly mode: PowerMode;
  readonly previousMode: PowerMode;
  /** Measured time of the switch: every write plus the read-back, milliseconds. */
  readonly switchMs: number;
  /** The writes, in the order they were made. */
  readonly writes: readonly WriteRecord[];
}

export interface KnobMismatch {
  readonly knob: string;
  readonly path: string;
  readonly expected: string;
  readonly actual: string;
}

/** A write the kernel refused; every earlier write of the same switch was undone. */
export class KnobWriteError extends Error {
  override readonly name = 'KnobWriteError';
  readonly sysfsError: SysfsError;
  readonly rolledBack: number;
  readonly rollbackFailures: readonly string[];

  constructor(cause: SysfsError, rolledBack: number, rollbackFailures: readonly string[]) {
    const hint = cause.isPermission
      ? ' The Jetson knobs need root: run the privileged helper (fulcrum-jetson-helper, systemd unit fulcrum-jetson-helper.service) and point the controller at its socket, or run as root.'
      : '';
    const undo = rollbackFailures.length
      ? ` Undoing ${rolledBack} earlier write(s) partly failed: ${rollbackFailures.join('; ')}.`
      : rolledBack
        ? ` The ${rolledBack} earlier write(s) of this switch were undone; the knobs are as they were.`
        : ' Nothing was changed.';
    super(`${cause.message}.${hint}${undo}`);
    this.sysfsError = cause;
    this.rolledBack = rolledBack;
    this.rollbackFailures = rollbackFailures;
  }
}

/** The writes went through but the knobs read back differently (firmware cap, thermal limit, another tool). */
export class KnobMismatchError extends Error {
  override readonly name = 'KnobMismatchError';
  readonly mismatches: readonly KnobMismatch[];
  readonly readBack: KnobReadout;

  constructor(action: string, mismatches: readonly KnobMismatch[], readBack: KnobReadout) {
    super(
      `${action}: ${mismatches.length} knob(s) read back differently: ` +
        mismatches.map((m) => `${m.knob} ${m.path} expected ${m.expected}, read ${m.actual}`).join('; '),
    );
    this.mismatches = mismatches;
    this.readBack = readBack;
  }
}

const isDigits = (s: string | undefined): s is string => s !== undefined && /^\d+$/u.test(s);

async function readIntOr(io: SysfsIo, path: string): Promise<number | undefined> {
  const text = await readOptional(io, path);
  const first = text?.split(/\s+/u)[0];
  return isDigits(first) ? Number(first) : undefined;
}

/** Reads every knob of the board. */
export async function readKnobState(io: SysfsIo, board: JetsonBoard): Promise<RawKnobState> {
  const online: Record<string, boolean> = {};
  for (let cpu = 0; cpu < board.cpuCount; cpu++) {
    const text = await readOptional(io, cpuOnlinePath(cpu));
    if (text !== undefined) online[cpu] = text.trim() === '1';
  }
  const isOnline = (cpu: number): boolean => online[cpu] ?? true; // no online file: cannot be offlined
  const policies: PolicyState[] = [];
  for (const cluster of board.clusters) {
    const dir = policyDir(cluster.policy);
    const active = cluster.cpus.some(isOnline);
    const minKhz = await readIntOr(io, `${dir}/${POLICY_FILES.minKhz}`);
    const maxKhz = await readIntOr(io, `${dir}/${POLICY_FILES.maxKhz}`);
    const curKhz = active ? await readIntOr(io, `${dir}/${POLICY_FILES.curKhz}`) : undefined;
    const governor = await readOptional(io, `${dir}/${POLICY_FILES.governor}`);
    policies.push({
      policy: cluster.policy,
      active,
      ...(minKhz !== undefined ? { minKhz } : {}),
      ...(maxKhz !== undefined ? { maxKhz } : {}),
      ...(curKhz !== undefined ? { curKhz } : {}),
      ...(governor !== undefined ? { governor } : {}),
    });
  }
  const g = board.gpu.dir;
  const gpuCur = await readIntOr(io, `${g}/${DEVFREQ_FILES.curHz}`);
  const gpuGovernor = await readOptional(io, `${g}/${DEVFREQ_FILES.governor}`);
  const gpu = {
    minHz: await readInt(io, `${g}/${DEVFREQ_FILES.minHz}`),
    maxHz: await readInt(io, `${g}/${DEVFREQ_FILES.maxHz}`),
    ...(gpuCur !== undefined ? { curHz: gpuCur } : {}),
    ...(gpuGovernor !== undefined ? { governor: gpuGovernor } : {}),
  };
  return { online, policies, gpu, emc: await readEmcState(io, board) };
}

async function readEmcState(io: SysfsIo, board: JetsonBoard): Promise<EmcState> {
  const rateHz = await readIntOr(io, `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`);
  switch (board.emc.mechanism) {
    case 'bpmp-clock-lock': {
      const capHz = board.emc.capPath ? await readIntOr(io, board.emc.capPath) : undefined;
      return {
        mechanism: 'bpmp-clock-lock',
        locked: (await io.read(`${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked}`)).trim() === '1',
        rateHz: await readInt(io, `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`),
        ...(capHz !== undefined ? { capHz } : {}),
      };
    }
    case 'emc-debugfs':
      return {
        mechanism: 'emc-debugfs',
        minHz: await readInt(io, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz}`),
        maxHz: await readInt(io, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.maxHz}`),
        ...(rateHz !== undefined ? { rateHz } : {}),
      };
    case 'none':
      return { mechanism: 'none', ...(rateHz !== undefined ? { rateHz } : {}) };
  }
}

/** The mode a raw state describes; `pinned` says whether every clock is held at one value. */
export function describeKnobs(board: JetsonBoard, raw: RawKnobState): KnobReadout {
  const cores = Array.from({ length: board.cpuCount }, (_, cpu) => raw.online[cpu] ?? true).filter(Boolean).length;
  const active = raw.policies.filter((p) => p.active);
  const first = active[0];
  const cpuKhz = first?.maxKhz ?? 0;
  const cpuPinned = active.every((p) => p.minKhz === cpuKhz && p.maxKhz === cpuKhz);
  const gpuPinned = raw.gpu.minHz === raw.gpu.maxHz;
  let emcHz = 0;
  let emcPinned = false;
  switch (raw.emc.mechanism) {
    case 'bpmp-clock-lock':
      emcHz = raw.emc.rateHz;
      emcPinned = raw.emc.locked;
      break;
    case 'emc-debugfs':
      emcHz = raw.emc.rateHz ?? raw.emc.maxHz;
      emcPinned = raw.emc.minHz === raw.emc.maxHz;
      break;
    case 'none':
      emcHz = raw.emc.rateHz ?? 0;
      break;
  }
  return {
    mode: { cores, cpuMhz: khzToMhz(cpuKhz), gpuMhz: hzToMhz(raw.gpu.maxHz), emcMhz: hzToMhz(emcHz) },
    pinned: cpuPinned && gpuPinned && emcPinned,
    raw,
  };
}

export async function readKnobs(io: SysfsIo, board: JetsonBoard): Promise<KnobReadout> {
  return describeKnobs(board, await readKnobState(io, board));
}

/** Every file the backend may write on this board: the knobs, nothing else. */
export function writablePaths(board: JetsonBoard): Set<string> {
  const paths = new Set<string>();
  for (let cpu = 1; cpu < board.cpuCount; cpu++) paths.add(cpuOnlinePath(cpu)); // cpu0 is never offlined
  for (const c of board.clusters) for (const f of [POLICY_FILES.minKhz, POLICY_FILES.maxKhz, POLICY_FILES.governor]) paths.add(`${policyDir(c.policy)}/${f}`);
  for (const f of [DEVFREQ_FILES.minHz, DEVFREQ_FILES.maxHz, DEVFREQ_FILES.governor]) paths.add(`${board.gpu.dir}/${f}`);
  if (board.emc.mechanism === 'bpmp-clock-lock') {
    paths.add(`${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked}`);
    paths.add(`${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`);
    if (board.emc.capPath) paths.add(board.emc.capPath);
  } else if (board.emc.mechanism === 'emc-debugfs') {
    paths.add(`${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz}`);
    paths.add(`${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.maxHz}`);
  }
  return paths;
}

/**
 * Writes knob files one at a time, only those on the board's whitelist, remembering each file's
 * previous value so that a failed switch can be undone in reverse order (each undo step is valid
 * because it returns to a state that was valid just before the matching write).
 */
class KnobWriter {
  readonly writes: WriteRecord[] = [];
  private readonly undo: Array<{ path: string; previous: string; knob: KnobName }> = [];

  constructor(
    private readonly io: SysfsIo,
    private readonly allowed: ReadonlySet<string>,
  ) {}

  async write(path: string, value: string, knob: KnobName): Promise<void> {
    if (NEVER_WRITE.test(path) || !this.allowed.has(path)) {
      throw new Error(`refusing to write ${path}: not one of this board's knob files (power-gating masks and other files are never written)`);
    }
    const previous = await readOptional(this.io, path);
    await this.io.write(path, value);
    this.writes.push({ path, value, knob });
    if (previous !== undefined) this.undo.push({ path, previous: previous.split(/\s+/u)[0] ?? previous, knob });
  }

  /** Undoes every write, newest first; returns what could not be undone. */
  async rollback(): Promise<{ undone: number; failures: string[] }> {
    const failures: string[] = [];
    let undone = 0;
    for (const { path, previous } of [...this.undo].reverse()) {
      try {
        await this.io.write(path, previous);
        undone++;
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    this.undo.length = 0;
    return { undone, failures };
  }
}

/**
 * Moves a min/max pair to [tMin, tMax] in an order the kernel accepts at every step: if the new
 * floor is above the current ceiling, raise the ceiling first (raise: max then min); otherwise
 * lower the floor first (lower: min then max). Files already at their target are not written.
 */
async function moveRange(w: KnobWriter, io: SysfsIo, minPath: string, maxPath: string, tMin: number, tMax: number, knob: KnobName): Promise<void> {
  const curMin = await readIntOr(io, minPath);
  const curMax = await readIntOr(io, maxPath);
  const writeMin = (): Promise<void> => (curMin === tMin ? Promise.resolve() : w.write(minPath, String(tMin), knob));
  const writeMax = (): Promise<void> => (curMax === tMax ? Promise.resolve() : w.write(maxPath, String(tMax), knob));
  if (curMax === undefined || tMin > curMax) {
    await writeMax();
    await writeMin();
  } else {
    await writeMin();
    await writeMax();
  }
}

/** The table entry (raw units) whose MHz value is `mhz`. */
function rawFor(table: readonly number[], toMhz: (raw: number) => number, mhz: number): number | undefined {
  return table.find((raw) => Math.abs(toMhz(raw) - mhz) <= 1e-6);
}

interface Targets {
  readonly cores: number;
  readonly cpuKhz: number;
  readonly gpuHz: number;
  readonly emcHz: number;
}

function targetsFor(board: JetsonBoard, mode: PowerMode, field: string): Targets {
  if (board.emc.mechanism === 'none') {
    throw new ValidationError(`${field}.emcMhz`, `the EMC clock cannot be set on this board: ${board.emc.reason}`);
  }
  assertOnGrid(mode, board.grid, board.identity.id, field);
  const cpuKhz = rawFor(board.clusters.find((c) => c.availableKhz.length)!.availableKhz, khzToMhz, mode.cpuMhz);
  const gpuHz = rawFor(board.gpu.availableHz, hzToMhz, mode.gpuMhz);
  const emcHz = rawFor(board.emc.availableHz, hzToMhz, mode.emcMhz);
  if (cpuKhz === undefined || gpuHz === undefined || emcHz === undefined) throw new ValidationError(field, `${formatPowerMode(mode)} is not on the board's tables`);
  return { cores: mode.cores, cpuKhz, gpuHz, emcHz };
}

/** Onlines cpu0..cpu(n-1) and offlines the rest; `direction` picks which half of that to do now. */
async function setCores(w: KnobWriter, board: JetsonBoard, online: Readonly<Record<string, boolean>>, cores: number, direction: 'down' | 'up'): Promise<void> {
  if (direction === 'down') {
    for (let cpu = board.cpuCount - 1; cpu >= cores; cpu--) if (online[cpu] === true) await w.write(cpuOnlinePath(cpu), '0', 'cores');
  } else {
    for (let cpu = 1; cpu < cores; cpu++) if (online[cpu] === false) await w.write(cpuOnlinePath(cpu), '1', 'cores');
  }
}

async function setGovernor(w: KnobWriter, io: SysfsIo, path: string, wanted: string, available: readonly string[]): Promise<void> {
  if (!available.includes(wanted)) return;
  if ((await readOptional(io, path)) === wanted) return;
  await w.write(path, wanted, 'governor');
}

async function pinEmc(w: KnobWriter, io: SysfsIo, board: JetsonBoard, targetHz: number): Promise<void> {
  if (board.emc.mechanism === 'bpmp-clock-lock') {
    const lockPath = `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked}`;
    if ((await io.read(lockPath)).trim() !== '1') await w.write(lockPath, '1', 'emc');
    // nvpmodel's cap (0 = none) would hold the clock below a higher target: raise it first, never lower it.
    if (board.emc.capPath) {
      const cap = await readIntOr(io, board.emc.capPath);
      if (cap !== undefined && cap > 0 && cap < targetHz) await w.write(board.emc.capPath, String(targetHz), 'emc');
    }
    const ratePath = `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`;
    if ((await readIntOr(io, ratePath)) !== targetHz) await w.write(ratePath, String(targetHz), 'emc');
  } else if (board.emc.mechanism === 'emc-debugfs') {
    await moveRange(w, io, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz}`, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.maxHz}`, targetHz, targetHz, 'emc');
  }
}

async function currentEmcHz(io: SysfsIo, board: JetsonBoard): Promise<number | undefined> {
  if (board.emc.mechanism === 'emc-debugfs') return readIntOr(io, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.maxHz}`);
  return readIntOr(io, `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`);
}

function activePolicies(board: JetsonBoard, online: Readonly<Record<string, boolean>>): string[] {
  return board.clusters.filter((c) => c.cpus.some((cpu) => online[cpu] ?? true)).map((c) => c.policy);
}

/** The online map after cpu0..cpu(cores-1) are on and the rest off (only where the direction allows). */
function onlineAfter(online: Readonly<Record<string, boolean>>, cores: number, direction: 'down' | 'up'): Record<string, boolean> {
  const next: Record<string, boolean> = { ...online };
  for (const key of Object.keys(next)) {
    const cpu = Number(key);
    if (direction === 'down' && cpu >= cores) next[key] = false;
    if (direction === 'up' && cpu < cores) next[key] = true;
  }
  return next;
}

/**
 * Applies the writes of one switch. Order: first every knob that goes down (offline cores, then
 * lower CPU/GPU/EMC clocks), then every knob that goes up (online cores, then raise clocks), so
 * the board never passes through a mode that draws more than both the old and the new one; each
 * min/max pair moves in the order that keeps min ≤ max (see moveRange); governors last, once the
 * clocks are pinned.
 */
async function writeMode(w: KnobWriter, io: SysfsIo, board: JetsonBoard, t: Targets, options: KnobOptions): Promise<void> {
  const before = await readKnobState(io, board);
  // Down phase.
  await setCores(w, board, before.online, t.cores, 'down');
  let online = onlineAfter(before.online, t.cores, 'down');
  for (const policy of activePolicies(board, online)) {
    const dir = policyDir(policy);
    const curMax = await readIntOr(io, `${dir}/${POLICY_FILES.maxKhz}`);
    if (curMax !== undefined && t.cpuKhz < curMax) await moveRange(w, io, `${dir}/${POLICY_FILES.minKhz}`, `${dir}/${POLICY_FILES.maxKhz}`, t.cpuKhz, t.cpuKhz, 'cpu');
  }
  const gpuMin = `${board.gpu.dir}/${DEVFREQ_FILES.minHz}`;
  const gpuMax = `${board.gpu.dir}/${DEVFREQ_FILES.maxHz}`;
  if (t.gpuHz < before.gpu.maxHz) await moveRange(w, io, gpuMin, gpuMax, t.gpuHz, t.gpuHz, 'gpu');
  const emcNow = await currentEmcHz(io, board);
  if (emcNow !== undefined && t.emcHz < emcNow) await pinEmc(w, io, board, t.emcHz);
  // Up phase: everything not yet at its target, including clusters whose cores just came online.
  await setCores(w, board, online, t.cores, 'up');
  online = onlineAfter(online, t.cores, 'up');
  const policies = activePolicies(board, online);
  for (const policy of policies) {
    const dir = policyDir(policy);
    await moveRange(w, io, `${dir}/${POLICY_FILES.minKhz}`, `${dir}/${POLICY_FILES.maxKhz}`, t.cpuKhz, t.cpuKhz, 'cpu');
  }
  await moveRange(w, io, gpuMin, gpuMax, t.gpuHz, t.gpuHz, 'gpu');
  await pinEmc(w, io, board, t.emcHz);
  if ((options.cpuGovernor ?? 'performance') === 'performance') {
    for (const policy of policies) {
      const cluster = board.clusters.find((c) => c.policy === policy)!;
      await setGovernor(w, io, `${policyDir(policy)}/${POLICY_FILES.governor}`, 'performance', cluster.availableGovernors);
    }
  }
  if ((options.gpuGovernor ?? 'performance') === 'performance') {
    await setGovernor(w, io, `${board.gpu.dir}/${DEVFREQ_FILES.governor}`, 'performance', board.gpu.availableGovernors);
  }
}

/** Compares a read-back with the targets of a mode. */
export function modeMismatches(board: JetsonBoard, raw: RawKnobState, t: Targets): KnobMismatch[] {
  const out: KnobMismatch[] = [];
  for (const [cpu, isOnline] of Object.entries(raw.online)) {
    const want = Number(cpu) < t.cores;
    if (isOnline !== want) out.push({ knob: 'cores', path: cpuOnlinePath(Number(cpu)), expected: want ? '1' : '0', actual: isOnline ? '1' : '0' });
  }
  for (const p of raw.policies.filter((q) => q.active)) {
    const dir = policyDir(p.policy);
    if (p.minKhz !== t.cpuKhz) out.push({ knob: 'cpu', path: `${dir}/${POLICY_FILES.minKhz}`, expected: String(t.cpuKhz), actual: String(p.minKhz) });
    if (p.maxKhz !== t.cpuKhz) out.push({ knob: 'cpu', path: `${dir}/${POLICY_FILES.maxKhz}`, expected: String(t.cpuKhz), actual: String(p.maxKhz) });
  }
  if (raw.gpu.minHz !== t.gpuHz) out.push({ knob: 'gpu', path: `${board.gpu.dir}/${DEVFREQ_FILES.minHz}`, expected: String(t.gpuHz), actual: String(raw.gpu.minHz) });
  if (raw.gpu.maxHz !== t.gpuHz) out.push({ knob: 'gpu', path: `${board.gpu.dir}/${DEVFREQ_FILES.maxHz}`, expected: String(t.gpuHz), actual: String(raw.gpu.maxHz) });
  const e = raw.emc;
  if (e.mechanism === 'bpmp-clock-lock') {
    if (!e.locked) out.push({ knob: 'emc', path: `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked}`, expected: '1', actual: '0' });
    if (e.rateHz !== t.emcHz) out.push({ knob: 'emc', path: `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`, expected: String(t.emcHz), actual: String(e.rateHz) });
  } else if (e.mechanism === 'emc-debugfs') {
    if (e.minHz !== t.emcHz) out.push({ knob: 'emc', path: `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz}`, expected: String(t.emcHz), actual: String(e.minHz) });
    if (e.maxHz !== t.emcHz) out.push({ knob: 'emc', path: `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.maxHz}`, expected: String(t.emcHz), actual: String(e.maxHz) });
  }
  return out;
}

async function runWrites(io: SysfsIo, board: JetsonBoard, body: (w: KnobWriter) => Promise<void>): Promise<WriteRecord[]> {
  const w = new KnobWriter(io, writablePaths(board));
  try {
    await body(w);
  } catch (err) {
    const { undone, failures } = await w.rollback();
    if (err instanceof SysfsError && err.op === 'write') throw new KnobWriteError(err, undone, failures);
    throw err;
  }
  return w.writes;
}

/** Validates `mode` against the board's grid, switches to it and reads every knob back. */
export async function applyMode(io: SysfsIo, board: JetsonBoard, mode: PowerMode, options: KnobOptions = {}, field = 'mode'): Promise<ModeSwitchResult> {
  const targets = targetsFor(board, mode, field);
  const started = performance.now();
  const previous = await readKnobs(io, board);
  const writes = await runWrites(io, board, (w) => writeMode(w, io, board, targets, options));
  const after = await readKnobs(io, board);
  const switchMs = performance.now() - started;
  const mismatches = modeMismatches(board, after.raw, targets);
  if (mismatches.length) throw new KnobMismatchError(`switch to ${formatPowerMode(mode)}`, mismatches, after);
  return { mode: after.mode, previousMode: previous.mode, switchMs, writes };
}

/** Puts every knob back to `state` (a capture taken before Fulcrum changed anything) and verifies it. */
export async function restoreKnobs(io: SysfsIo, board: JetsonBoard, state: RawKnobState): Promise<{ readonly mode: PowerMode; readonly writes: readonly WriteRecord[]; readonly switchMs: number }> {
  const started = performance.now();
  const writes = await runWrites(io, board, async (w) => {
    const now = await readKnobState(io, board);
    const cpus = Object.keys(state.online).map(Number).sort((a, b) => a - b);
    // Online first, so the policies of returning clusters accept writes.
    for (const cpu of cpus) if (state.online[cpu] && now.online[cpu] === false) await w.write(cpuOnlinePath(cpu), '1', 'cores');
    for (const p of state.policies) {
      if (!p.active || p.minKhz === undefined || p.maxKhz === undefined) continue;
      const dir = policyDir(p.policy);
      await moveRange(w, io, `${dir}/${POLICY_FILES.minKhz}`, `${dir}/${POLICY_FILES.maxKhz}`, p.minKhz, p.maxKhz, 'cpu');
      if (p.governor !== undefined && (await readOptional(io, `${dir}/${POLICY_FILES.governor}`)) !== p.governor) {
        await w.write(`${dir}/${POLICY_FILES.governor}`, p.governor, 'governor');
      }
    }
    for (const cpu of [...cpus].reverse()) if (!state.online[cpu] && now.online[cpu] !== false && cpu > 0) await w.write(cpuOnlinePath(cpu), '0', 'cores');
    const g = board.gpu.dir;
    await moveRange(w, io, `${g}/${DEVFREQ_FILES.minHz}`, `${g}/${DEVFREQ_FILES.maxHz}`, state.gpu.minHz, state.gpu.maxHz, 'gpu');
    if (state.gpu.governor !== undefined && (await readOptional(io, `${g}/${DEVFREQ_FILES.governor}`)) !== state.gpu.governor) {
      await w.write(`${g}/${DEVFREQ_FILES.governor}`, state.gpu.governor, 'governor');
    }
    const e = state.emc;
    if (e.mechanism === 'bpmp-clock-lock' && board.emc.mechanism === 'bpmp-clock-lock') {
      const ratePath = `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`;
      const lockPath = `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked}`;
      const capNow = board.emc.capPath ? await readIntOr(io, board.emc.capPath) : undefined;
      const writeCap = async (): Promise<void> => {
        if (board.emc.mechanism === 'bpmp-clock-lock' && board.emc.capPath && e.capHz !== undefined && capNow !== e.capHz) await w.write(board.emc.capPath, String(e.capHz), 'emc');
      };
      // Put the rate back while still locked, then the cap, then the lock flag (0 hands the clock back to DVFS).
      if ((await io.read(lockPath)).trim() !== '1') await w.write(lockPath, '1', 'emc');
      if (capNow !== undefined && capNow > 0 && e.rateHz > capNow) await writeCap();
      if ((await readIntOr(io, ratePath)) !== e.rateHz) await w.write(ratePath, String(e.rateHz), 'emc');
      if (!(capNow !== undefined && capNow > 0 && e.rateHz > capNow)) await writeCap();
      if (!e.locked) await w.write(lockPath, '0', 'emc');
    } else if (e.mechanism === 'emc-debugfs' && board.emc.mechanism === 'emc-debugfs') {
      await moveRange(w, io, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz}`, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.maxHz}`, e.minHz, e.maxHz, 'emc');
    }
  });
  const after = await readKnobs(io, board);
  const mismatches = restoreMismatches(board, after.raw, state);
  if (mismatches.length) throw new KnobMismatchError('restore of the saved state', mismatches, after);
  return { mode: after.mode, writes, switchMs: performance.now() - started };
}

function restoreMismatches(board: JetsonBoard, now: RawKnobState, saved: RawKnobState): KnobMismatch[] {
  const out: KnobMismatch[] = [];
  const add = (knob: string, path: string, expected: unknown, actual: unknown): void => {
    if (expected !== undefined && expected !== actual) out.push({ knob, path, expected: String(expected), actual: String(actual) });
  };
  for (const [cpu, was] of Object.entries(saved.online)) add('cores', cpuOnlinePath(Number(cpu)), was ? '1' : '0', now.online[cpu] ? '1' : '0');
  for (const p of saved.policies.filter((q) => q.active)) {
    const q = now.policies.find((x) => x.policy === p.policy);
    const dir = policyDir(p.policy);
    add('cpu', `${dir}/${POLICY_FILES.minKhz}`, p.minKhz, q?.minKhz);
    add('cpu', `${dir}/${POLICY_FILES.maxKhz}`, p.maxKhz, q?.maxKhz);
    add('governor', `${dir}/${POLICY_FILES.governor}`, p.governor, q?.governor);
  }
  add('gpu', `${board.gpu.dir}/${DEVFREQ_FILES.minHz}`, saved.gpu.minHz, now.gpu.minHz);
  add('gpu', `${board.gpu.dir}/${DEVFREQ_FILES.maxHz}`, saved.gpu.maxHz, now.gpu.maxHz);
  add('governor', `${board.gpu.dir}/${DEVFREQ_FILES.governor}`, saved.gpu.governor, now.gpu.governor);
  if (saved.emc.mechanism === 'bpmp-clock-lock' && now.emc.mechanism === 'bpmp-clock-lock') {
    add('emc', `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked}`, saved.emc.locked ? '1' : '0', now.emc.locked ? '1' : '0');
    // An unlocked EMC clock is the DVFS governor's to move: only a locked rate must match.
    if (saved.emc.locked) add('emc', `${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`, saved.emc.rateHz, now.emc.rateHz);
  } else if (saved.emc.mechanism === 'emc-debugfs' && now.emc.mechanism === 'emc-debugfs') {
    add('emc', `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz}`, saved.emc.minHz, now.emc.minHz);
    add('emc', `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.maxHz}`, saved.emc.maxHz, now.emc.maxHz);
  }
  return out;
}
