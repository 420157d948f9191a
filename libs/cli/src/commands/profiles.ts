/**
 * `fulcrum profiles export` — a device backend's profiles as the SPEC §3 CSV (stdout or --out).
 * `fulcrum profiles import FILE` — validate a profile CSV and summarise it.
 */
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { Command, Option } from 'commander';
import { getDevice, getGrid, getWorkload, workloadIds, type WorkloadKind } from '@fulcrum/core';
import {
  DEFAULT_EXPORT_BATCH_SIZES,
  DEFAULT_NOISE,
  DEFAULT_SEED,
  createVirtualDevice,
  exportProfiles,
  isProfileCsvError,
  virtualDeviceIds,
} from '@fulcrum/devices';
import type { CliIo } from '../io.js';
import { parseBatchSizes, parseNoise, parseSeed } from '../parse.js';
import { UsageError, asUsageError, commaList, oneOf } from '../usage.js';
import { loadProfileFile } from '../profile-file.js';

interface ExportOptions {
  device: string;
  grid: string;
  workloads?: string[];
  batchSizes?: number[];
  kinds?: WorkloadKind[];
  noise: number;
  seed: number;
  out?: string;
  progress?: boolean;
}

interface ImportOptions {
  json?: boolean;
}

/** A Writable over the CLI's stdout function (stdout is synchronous for files and pipes on Linux). */
function ioWritable(write: (text: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      write(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      cb();
    },
  });
}

export function registerProfilesCommands(program: Command, io: CliIo): void {
  const profiles = program.command('profiles').description('Profile tables (CSV: device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w).');

  profiles
    .command('export')
    .description(
      'Write the virtual device\'s profiles over a grid as CSV: one training row per mode (at each workload\'s training batch) ' +
        'and one inference row per mode and batch size. Measurements carry seeded noise unless --noise 0.',
    )
    .addOption(new Option('--device <id>', 'virtual device').argParser(oneOf(virtualDeviceIds())).default('orin-agx'))
    .option('--grid <name>', 'full, or a named sub-grid (orin-agx: 4368, 441)', 'full')
    .option('--workloads <ids>', `comma-separated workload ids (default: all: ${workloadIds().join(',')})`, commaList((s) => s))
    .option('--batch-sizes <list>', `inference batch sizes, e.g. 1,2,4 or 1-64 (default ${DEFAULT_EXPORT_BATCH_SIZES.join(',')})`, parseBatchSizes)
    .option('--kinds <list>', 'train,infer (default both)', commaList(oneOf(['train', 'infer'] as const)))
    .option('--noise <spread>', '0 (ground truth), default (2.5%) or a relative spread such as 0.03', parseNoise, DEFAULT_NOISE)
    .option('--seed <n>', 'seed of the measurement noise', parseSeed, DEFAULT_SEED)
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--no-progress', 'no progress lines on stderr')
    .action(async (o: ExportOptions) => {
      let grid;
      try {
        const spec = getDevice(o.device, '--device');
        grid = getGrid(spec, o.grid, '--grid');
        for (const w of o.workloads ?? []) getWorkload(w, '--workloads');
      } catch (err) {
        throw asUsageError(err);
      }
      const backend = createVirtualDevice(o.device, { noise: o.noise, seed: o.seed });
      // --out: written to a new temporary file beside it, then renamed over it — atomic (no half
      // file on failure), and a symlink at --out is replaced, never followed to overwrite its target.
      const tmp = o.out ? join(dirname(resolve(o.out)), `.${basename(o.out)}.tmp-${process.pid}`) : undefined;
      const out = tmp ? createWriteStream(tmp, { flags: 'wx', mode: 0o644 }) : ioWritable(io.stdout);
      if (tmp) {
        try {
          await once(out, 'open');
        } catch (err) {
          throw new UsageError(`--out: cannot write beside ${o.out}: ${(err as Error).message}`);
        }
      }
      const started = Date.now();
      let lastReport = started;
      const result = await exportProfiles(backend, out, {
        grid,
        ...(o.workloads ? { workloads: o.workloads } : {}),
        ...(o.batchSizes ? { batchSizes: o.batchSizes } : {}),
        ...(o.kinds ? { kinds: o.kinds } : {}),
        onProgress: (done, total) => {
          const now = Date.now();
          if (o.progress !== false && total >= 200_000 && now - lastReport >= 1000) {
            lastReport = now;
            io.stderr(`fulcrum: exported ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} rows (${((now - started) / 1000).toFixed(1)} s)\n`);
          }
        },
      });
      out.end();
      if (tmp) {
        try {
          await once(out, 'finish');
          renameSync(tmp, o.out!);
        } catch (err) {
          rmSync(tmp, { force: true });
          throw err;
        }
      }
      if (o.out || (o.progress !== false && result.rows >= 200_000)) {
        io.stderr(`fulcrum: ${result.rows.toLocaleString('en-US')} rows (${result.modes} modes × ${result.blocks} workload/batch blocks) in ${((Date.now() - started) / 1000).toFixed(2)} s${o.out ? ` → ${o.out}` : ''}\n`);
      }
    });

  profiles
    .command('import')
    .description('Validate a profile CSV and print what it holds (device, workloads, modes, rows). Malformed rows are reported with their line number.')
    .argument('<file>', 'the CSV file')
    .option('--json', 'print the summary as JSON')
    .action(async (file: string, o: ImportOptions) => {
      let table;
      try {
        table = await loadProfileFile(file, 'profiles import');
      } catch (err) {
        if (isProfileCsvError(err)) throw new UsageError(err.message);
        throw err;
      }
      const s = table.summary();
      if (o.json) {
        io.stdout(`${JSON.stringify({ file, ...s }, null, 2)}\n`);
        return;
      }
      const kinds = s.kinds.join(', ');
      const lines = [
        `file:      ${file}`,
        `device:    ${s.device}`,
        `workloads: ${s.workloads.join(', ')} (${kinds})`,
        `modes:     ${s.modes}${s.grid ? ` (exactly the ${s.grid} grid)` : ''}`,
        `rows:      ${s.rows}`,
        'batch sizes:',
        ...Object.entries(s.batchSizes).map(([k, v]) => `  ${k}: ${v.join(', ')}`),
      ];
      const holes = Object.entries(s.incomplete);
      if (holes.length > 0) {
        // A mode lacking a row of the problem's workloads is never planned on: say where the holes are.
        lines.push(`incomplete: ${holes.length} of ${Object.values(s.batchSizes).reduce((a, v) => a + v.length, 0)} (workload, kind, batch) groups lack modes (plans skip a mode without every row they need):`);
        for (const [k, n] of holes.slice(0, 20)) lines.push(`  ${k}: ${n} of ${s.modes} modes`);
        if (holes.length > 20) lines.push(`  … ${holes.length - 20} more (--json lists all)`);
      }
      io.stdout(`${lines.join('\n')}\n`);
    });

  for (const c of profiles.commands) c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  profiles.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}
