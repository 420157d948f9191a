/**
 * The profile-table CSV of SPEC §3:
 *   device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w[,samples,time_se_ms,power_se_w]
 * The last three are optional (issue 16: how sure each measurement is): a header may name any of
 * them, a cell may be empty (unknown). The writer writes all thirteen, empty where unknown.
 * Numbers are written in JavaScript's shortest round-trip form, so export → import is lossless.
 * The writer streams (chunks with back-pressure); the reader streams too and rejects a malformed
 * row with its line number and the reason.
 */
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import {
  ValidationError,
  formatPowerMode,
  isValidationError,
  type PowerModeGrid,
  type WorkloadKind,
} from '@fulcrum/core';
import { describeValue, fileErrorReason } from '@fulcrum/core/internal';
import { defaultTrainBatchSize, resolveGrid, type DeviceBackend } from './backend.js';
import { DuplicateRowError, ProfileTable, type ProfileRow } from './profile-table.js';

export const PROFILE_CSV_COLUMNS = ['device', 'workload', 'kind', 'batch_size', 'cores', 'cpu_mhz', 'gpu_mhz', 'emc_mhz', 'time_ms', 'power_w'] as const;
/** Optional columns: minibatches measured and the standard errors of time_ms and power_w. */
export const PROFILE_CSV_OPTIONAL_COLUMNS = ['samples', 'time_se_ms', 'power_se_w'] as const;
/** The required columns: what a table of one's own must have. */
export const PROFILE_CSV_HEADER = PROFILE_CSV_COLUMNS.join(',');
/** What the writer writes: the required columns and the optional ones. */
export const PROFILE_CSV_FULL_HEADER = [...PROFILE_CSV_COLUMNS, ...PROFILE_CSV_OPTIONAL_COLUMNS].join(',');
type Column = (typeof PROFILE_CSV_COLUMNS)[number] | (typeof PROFILE_CSV_OPTIONAL_COLUMNS)[number];

/** A malformed profile CSV: `line` is 1-based (the header is line 1). */
export class ProfileCsvError extends ValidationError {
  constructor(
    readonly source: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${source} line ${line}`, reason);
  }
}

export function isProfileCsvError(err: unknown): err is ProfileCsvError {
  return err instanceof ProfileCsvError;
}

const csvText = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** One row as CSV text, without the newline: the required columns, and with `full` the optional ones too (PROFILE_CSV_FULL_HEADER). */
export function formatProfileRow(row: ProfileRow, full = false): string {
  const m = row.mode;
  const required = `${csvText(row.device)},${csvText(row.workload)},${row.kind},${row.batchSize},${m.cores},${m.cpuMhz},${m.gpuMhz},${m.emcMhz},${row.timeMs},${row.powerW}`;
  return full ? `${required},${row.samples ?? ''},${row.timeSeMs ?? ''},${row.powerSeW ?? ''}` : required;
}

/** Collects text and writes it in ~256 KiB chunks, waiting for 'drain' when the stream asks. */
class ChunkWriter {
  private parts: string[] = [];
  private length = 0;
  constructor(private readonly out: Writable) {}
  async push(text: string): Promise<void> {
    this.parts.push(text);
    this.length += text.length;
    if (this.length >= 1 << 18) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const chunk = this.parts.join('');
    this.parts = [];
    this.length = 0;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }
}

/** At most this many characters of a parser's message (it may quote a whole field). */
const MAX_MESSAGE_CHARS = 200;

function shortMessage(message: string): string {
  const clean = message.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '?');
  return clean.length <= MAX_MESSAGE_CHARS ? clean : `${clean.slice(0, MAX_MESSAGE_CHARS)}… (${clean.length} characters)`;
}

/** Writes the header and every row; resolves with the number of rows. */
export async function writeProfileCsv(rows: Iterable<ProfileRow> | AsyncIterable<ProfileRow>, out: Writable): Promise<number> {
  const w = new ChunkWriter(out);
  await w.push(`${PROFILE_CSV_FULL_HEADER}\n`);
  let n = 0;
  for await (const row of rows) {
    await w.push(`${formatProfileRow(row, true)}\n`);
    n++;
  }
  await w.flush();
  return n;
}

export interface ExportOptions {
  /** A grid or the name of one of the device's grids (`full`, `4368`, `441`); default full. */
  readonly grid?: PowerModeGrid | string;
  /** Default: every workload the backend answers for. */
  readonly workloads?: readonly string[];
  /** Inference batch sizes; default 1, 2, 4, 8, 16, 32, 64. */
  readonly batchSizes?: readonly number[];
  /** Which kinds to export; default both. Training rows use each workload's training batch size. */
  readonly kinds?: readonly WorkloadKind[];
  /** Measurement repetition for the noise draw (default 0, the same numbers `measure` gives). */
  readonly repeat?: number;
  /** Called after each (workload, kind, batch) block with rows written so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_EXPORT_BATCH_SIZES: readonly number[] = [1, 2, 4, 8, 16, 32, 64];

export interface ExportSummary {
  readonly rows: number;
  readonly modes: number;
  readonly blocks: number;
}

/**
 * Streams a backend's profiles over a grid as CSV: measurements (with the backend's noise) when
 * its noise is > 0, ground truth when it is 0. Modes a table backend lacks are skipped.
 */
export async function exportProfiles(backend: DeviceBackend, out: Writable, options: ExportOptions = {}): Promise<ExportSummary> {
  const grid = resolveGrid(backend.device, options.grid);
  const workloads = options.workloads ?? backend.workloads();
  const kinds = options.kinds ?? (['train', 'infer'] as const);
  const batchSizes = options.batchSizes ?? DEFAULT_EXPORT_BATCH_SIZES;
  const blocks: [string, WorkloadKind, number][] = [];
  for (const w of workloads) {
    if (kinds.includes('train')) blocks.push([w, 'train', defaultTrainBatchSize(w, backend.catalog)]);
    if (kinds.includes('infer')) for (const b of batchSizes) blocks.push([w, 'infer', b]);
  }
  const w = new ChunkWriter(out);
  await w.push(`${PROFILE_CSV_FULL_HEADER}\n`);
  let rows = 0;
  let modeStrings: string[] | undefined;
  let size = 0;
  const total = () => blocks.length * size;
  for (const [workload, kind, batchSize] of blocks) {
    const t = backend.noise > 0 ? backend.measureTable(workload, kind, batchSize, grid, { repeat: options.repeat ?? 0 }) : backend.groundTruthTable(workload, kind, batchSize, grid);
    if (!modeStrings) {
      size = t.index.size;
      modeStrings = Array.from({ length: size }, (_, i) => formatPowerMode(t.index.modeAt(i)));
    }
    const prefix = `${csvText(backend.device.id)},${csvText(workload)},${kind},${batchSize},`;
    let block = '';
    for (let i = 0; i < size; i++) {
      const time = t.timeMs[i]!;
      if (Number.isNaN(time)) continue;
      block += `${prefix}${modeStrings[i]},${time},${t.powerW[i]},,,\n`;
      rows++;
      if (block.length >= 1 << 16) {
        await w.push(block);
        block = '';
      }
    }
    await w.push(block);
    options.onProgress?.(rows, total());
  }
  await w.flush();
  return { rows, modes: size, blocks: blocks.length };
}

// ---------------------------------------------------------------------------------------------
// Reading

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export interface ReadOptions {
  /** Shown in errors (default `profiles.csv`, or the file path). */
  readonly source?: string;
}

type Cells = string[];

function parseRecord(cells: Cells, columns: Map<string, number>, source: string, line: number, table: { device?: string }): ProfileRow {
  const fail = (reason: string): never => {
    throw new ProfileCsvError(source, line, reason);
  };
  if (cells.length < columns.size) {
    const missing = [...columns].filter(([, i]) => i >= cells.length).map(([c]) => c);
    fail(`missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (expected ${columns.size} fields, got ${cells.length})`);
  }
  if (cells.length > columns.size) fail(`too many fields (expected ${columns.size}, got ${cells.length})`);
  const cell = (c: Column): string => cells[columns.get(c)!]!.trim();
  const num = (c: Column): number => {
    const text = cell(c);
    if (text === '') fail(`${c} is empty`);
    if (!NUMBER.test(text)) fail(`${c} is not a number: ${describeValue(text)}`);
    const v = Number(text);
    if (!Number.isFinite(v)) fail(`${c} is not a finite number: ${describeValue(text)}`);
    return v;
  };
  /** An optional column: absent or empty is unknown (undefined). */
  const optional = (c: Column, check: (v: number) => string | undefined): number | undefined => {
    if (!columns.has(c) || cell(c) === '') return undefined;
    const v = num(c);
    const problem = check(v);
    if (problem) fail(`${c} ${problem}, got ${cell(c)}`);
    return v;
  };
  const positive = (c: Column, what: string): number => {
    const v = num(c);
    if (v <= 0) fail(`${c} must be a positive ${what}, got ${cell(c)}`);
    return v;
  };
  const device = cell('device');
  if (device === '') fail('device is empty');
  if (table.device !== undefined && device !== table.device) fail(`device ${describeValue(device)} differs from ${describeValue(table.device)} on the first row; one table holds one device`);
  const workload = cell('workload');
  if (workload === '') fail('workload is empty');
  const kind = cell('kind');
  if (kind !== 'train' && kind !== 'infer') fail(`unknown kind ${describeValue(kind)}: must be "train" or "infer"`);
  const batchSize = positive('batch_size', 'integer');
  if (!Number.isInteger(batchSize)) fail(`batch_size must be a positive integer, got ${cell('batch_size')}`);
  const cores = positive('cores', 'integer');
  if (!Number.isInteger(cores)) fail(`cores must be a positive integer, got ${cell('cores')}`);
  const mode = { cores, cpuMhz: positive('cpu_mhz', 'clock'), gpuMhz: positive('gpu_mhz', 'clock'), emcMhz: positive('emc_mhz', 'clock') };
  const timeMs = positive('time_ms', 'time');
  const powerW = positive('power_w', 'power');
  const samples = optional('samples', (v) => (Number.isInteger(v) && v > 0 ? undefined : 'must be a positive integer'));
  const timeSeMs = optional('time_se_ms', (v) => (v >= 0 ? undefined : 'must be ≥ 0'));
  const powerSeW = optional('power_se_w', (v) => (v >= 0 ? undefined : 'must be ≥ 0'));
  return {
    device,
    workload,
    kind: kind as WorkloadKind,
    batchSize,
    mode,
    timeMs,
    powerW,
    ...(samples !== undefined ? { samples } : {}),
    ...(timeSeMs !== undefined ? { timeSeMs } : {}),
    ...(powerSeW !== undefined ? { powerSeW } : {}),
  };
}

function checkHeader(cells: Cells, source: string): Map<string, number> {
  const columns = new Map<string, number>();
  cells.forEach((c, i) => {
    const name = c.trim().replace(/^\uFEFF/, '');
    if (!(PROFILE_CSV_COLUMNS as readonly string[]).includes(name) && !(PROFILE_CSV_OPTIONAL_COLUMNS as readonly string[]).includes(name)) {
      throw new ProfileCsvError(source, 1, `unknown column ${describeValue(name)} in the header; expected ${PROFILE_CSV_HEADER}`);
    }
    if (columns.has(name)) throw new ProfileCsvError(source, 1, `column ${describeValue(name)} appears twice in the header`);
    columns.set(name, i);
  });
  const missing = PROFILE_CSV_COLUMNS.filter((c) => !columns.has(c));
  if (missing.length > 0) throw new ProfileCsvError(source, 1, `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} in the header; expected ${PROFILE_CSV_HEADER}`);
  return columns;
}

/** Reads a profile CSV (stream or text) into a table; the first malformed row throws ProfileCsvError. */
export async function readProfileCsv(input: Readable | string, options: ReadOptions = {}): Promise<ProfileTable> {
  const source = options.source ?? 'profiles.csv';
  const stream = typeof input === 'string' ? Readable.from([input]) : input;
  const parser = stream.pipe(parse({ relax_column_count: true, skip_empty_lines: true, info: true, bom: true }));
  // pipe() does not pass the source's errors on (a missing file, a folder): the loop below gets them.
  stream.once('error', (err) => parser.destroy(err));
  let columns: Map<string, number> | undefined;
  let table: ProfileTable | undefined;
  const state: { device?: string } = {};
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Cells; info: { lines: number } }>) {
      const line = info.lines;
      if (!columns) {
        columns = checkHeader(record, source);
        continue;
      }
      const row = parseRecord(record, columns, source, line, state);
      if (!table) {
        try {
          table = new ProfileTable(row.device);
        } catch (err) {
          if (isValidationError(err)) throw new ProfileCsvError(source, line, err.reason);
          throw err;
        }
        state.device = row.device;
      }
      try {
        table.add(row, line);
      } catch (err) {
        if (err instanceof DuplicateRowError) throw new ProfileCsvError(source, line, err.message);
        if (isValidationError(err)) throw new ProfileCsvError(source, line, `${err.field}: ${err.reason}`);
        throw err;
      }
    }
  } catch (err) {
    if (err instanceof ProfileCsvError) throw err;
    const e = err as { code?: string; lines?: number; message?: string };
    // The parser's message may quote the offending field whole (a 10 MB line, binary garbage): keep a short prefix.
    if (err instanceof CsvError || (typeof e.code === 'string' && e.code.startsWith('CSV_'))) throw new ProfileCsvError(source, e.lines ?? 0, `malformed CSV: ${shortMessage(String(e.message))}`);
    throw err;
  } finally {
    if (typeof input !== 'string') stream.destroy();
  }
  if (!columns) throw new ProfileCsvError(source, 1, `empty file: expected the header ${PROFILE_CSV_HEADER}`);
  if (!table) throw new ProfileCsvError(source, 2, 'no rows after the header');
  return table;
}

/** Reads a profile CSV file. */
export async function loadProfileTable(path: string): Promise<ProfileTable> {
  try {
    return await readProfileCsv(createReadStream(path), { source: path });
  } catch (err) {
    // A file that cannot be opened (a bad row is the table's own error).
    if (['ENOENT', 'EISDIR', 'EACCES', 'EPERM'].includes((err as { code?: string }).code ?? '')) throw new ProfileFileError(path, fileErrorReason(err, 'CSV file'), err);
    throw err;
  }
}

/** A profile table's file cannot be read (missing, a folder, not permitted): says which, the fs error as `cause`. */
export class ProfileFileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    cause?: unknown,
  ) {
    super(reason, { cause });
    this.name = 'ProfileFileError';
  }
}

/**
 * Reads the profile CSV a setting names (a service's `profiles`): a file that cannot be read is a
 * ValidationError naming `field`, like a bad row.
 */
export async function loadProfileTableSetting(path: string, field = 'profiles'): Promise<ProfileTable> {
  try {
    return await loadProfileTable(path);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new ValidationError(field, err instanceof Error ? err.message : String(err));
  }
}
