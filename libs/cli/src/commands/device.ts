/**
 * `fulcrum device calibrate` — the virtual Orin AGX against Pagoda's MAXN measurements.
 * `fulcrum device plot` — time and power against GPU clock (one line per EMC clock) and the
 * time–power scatter with its Pareto front, as SVG and PNG.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { assertOnGrid, formatPowerMode, getGrid, getWorkload, type WorkloadKind } from '@fulcrum/core';
import { parseWorkloadKind } from '@fulcrum/core/internal';
import { createVirtualDevice, defaultTrainBatchSize, virtualDeviceIds } from '@fulcrum/devices';
import { calibrationReport, paretoFront, type CalibrationReport } from '@fulcrum/devices/internal';
import { lineChartSpec, paretoScatterSpec, renderVegaLite, svgToPng, type VegaLiteSpec } from '@fulcrum/plot';
import type { CliIo } from '../io.js';
import { UsageError, asUsageError, oneOf, positiveInteger, positiveNumber } from '../usage.js';
import { checkOutputDir } from '../output-path.js';

const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;

export function formatCalibration(r: CalibrationReport): string {
  const table = new Table({
    head: ['workload', 'batch', 'time ms (measured)', 'time ms (model)', 'error', 'power W (measured)', 'power W (model)', 'error', 'note'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const row of r.rows) {
    table.push([
      row.workload,
      row.batchSize,
      row.measuredTimeMs.toFixed(2),
      row.modelTimeMs.toFixed(2),
      pct(row.timeError),
      row.measuredPowerW.toFixed(2),
      row.modelPowerW.toFixed(2),
      pct(row.powerError),
      row.powerGlitch ? 'power: flagged glitch, not judged' : row.judged ? '' : `batch < ${r.minBatchSize}: not judged`,
    ]);
  }
  return (
    `Virtual ${r.device} vs ${r.source}\n` +
    `${table.toString()}\n` +
    `Largest error at batch ≥ ${r.minBatchSize}: time ${(100 * r.maxAbsTimeError).toFixed(2)}%, power ${(100 * r.maxAbsPowerError).toFixed(2)}% ` +
    `(tolerance ±${(100 * r.tolerance).toFixed(0)}%): ${r.withinTolerance ? 'within tolerance' : 'OUTSIDE tolerance'}\n` +
    'The model is synthetic: trust its numbers for your board only after calibrating against your own measurements.\n'
  );
}

interface PlotOptions {
  device: string;
  workload: string;
  kind: WorkloadKind;
  batchSize?: number;
  cores?: number;
  cpuMhz?: number;
  grid: string;
  out: string;
  png: boolean;
}

async function writePlot(dir: string, name: string, spec: VegaLiteSpec, png: boolean): Promise<string[]> {
  const { svg } = await renderVegaLite(spec);
  const svgPath = join(dir, `${name}.svg`);
  writeFileSync(svgPath, svg);
  if (!png) return [svgPath];
  const pngPath = join(dir, `${name}.png`);
  writeFileSync(pngPath, svgToPng(svg));
  return [svgPath, pngPath];
}

export function registerDeviceCommands(program: Command, io: CliIo): void {
  const device = program.command('device').description('Devices: the virtual Jetson (calibration report, plots) and a real board\'s knobs.');

  device
    .command('calibrate')
    .description('Print the virtual Orin AGX against the measured Orin AGX MAXN inference rows (Pagoda), with the errors.')
    .option('--json', 'print the report as JSON')
    .action((o: { json?: boolean }) => {
      const report = calibrationReport();
      io.stdout(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatCalibration(report));
    });

  device
    .command('plot')
    .description(
      'Write SVG and PNG plots of a workload on the virtual device: time and power against GPU clock (one line per EMC ' +
        'clock, at the chosen cores and CPU clock) and the time–power scatter of every mode with its Pareto front.',
    )
    .requiredOption('--workload <id>', 'workload id (e.g. resnet50)')
    .addOption(new Option('--kind <train|infer>', 'training or inference').argParser(oneOf(['train', 'infer'] as const)).default('infer'))
    .option('--batch-size <n>', 'minibatch size (default: 8 for inference, the workload\'s training batch for training)', positiveInteger)
    .addOption(new Option('--device <id>', 'virtual device').argParser(oneOf(virtualDeviceIds())).default('orin-agx'))
    .option('--cores <n>', 'online cores for the GPU-clock plots (default: all)', positiveInteger)
    .option('--cpu-mhz <mhz>', 'CPU clock for the GPU-clock plots (default: the top clock)', positiveNumber)
    .option('--grid <name>', 'grid for the Pareto scatter (full, or a named sub-grid such as 4368, 441)', 'full')
    .requiredOption('--out <dir>', 'directory to write the files to (created if missing)')
    .option('--no-png', 'write SVG only')
    .action(async (o: PlotOptions) => {
      let kind: WorkloadKind;
      try {
        getWorkload(o.workload, '--workload');
        kind = parseWorkloadKind(o.kind, '--kind');
      } catch (err) {
        throw asUsageError(err);
      }
      const d = createVirtualDevice(o.device, { noise: 0 });
      const spec = d.device;
      const batchSize = o.batchSize ?? (kind === 'train' ? defaultTrainBatchSize(o.workload) : 8);
      const cores = o.cores ?? Math.max(...spec.grid.cores);
      const cpuMhz = o.cpuMhz ?? Math.max(...spec.grid.cpuMhz);
      let scatterGrid;
      try {
        assertOnGrid({ cores, cpuMhz, gpuMhz: spec.grid.gpuMhz[0]!, emcMhz: spec.grid.emcMhz[0]! }, spec.grid, spec.id, 'mode');
        scatterGrid = getGrid(spec, o.grid, '--grid');
      } catch (err) {
        throw asUsageError(err, (field) => ({ 'mode.cores': '--cores', 'mode.cpuMhz': '--cpu-mhz' })[field]);
      }
      const what = `${o.workload} ${kind} batch ${batchSize} on virtual ${spec.id}`;
      const at = `${cores} cores, CPU ${cpuMhz} MHz`;
      const sweep = spec.grid.emcMhz.flatMap((emcMhz) =>
        spec.grid.gpuMhz.map((gpuMhz) => ({ gpuMhz, series: `EMC ${emcMhz} MHz`, ...d.groundTruth({ mode: { cores, cpuMhz, gpuMhz, emcMhz }, workload: o.workload, kind, batchSize }) })),
      );
      const table = d.groundTruthTable(o.workload, kind, batchSize, scatterGrid);
      const front = new Set(paretoFront(table.timeMs, table.powerW));
      const points = Array.from(table.timeMs, (timeMs, i) => ({ timeMs, powerW: table.powerW[i]!, label: formatPowerMode(table.index.modeAt(i)), pareto: front.has(i) }));
      checkOutputDir(o.out, '--out');
      const base = `${o.device}-${o.workload}-${kind}-b${batchSize}`;
      const written = [
        ...(await writePlot(
          o.out,
          `${base}-time-vs-gpu`,
          lineChartSpec(sweep.map((p) => ({ x: p.gpuMhz, series: p.series, y: p.timeMs })), { title: `Time per minibatch: ${what} (${at})`, xTitle: 'GPU clock (MHz)', yTitle: 'time per minibatch (ms)', seriesTitle: 'memory clock', logY: true }),
          o.png,
        )),
        ...(await writePlot(
          o.out,
          `${base}-power-vs-gpu`,
          lineChartSpec(sweep.map((p) => ({ x: p.gpuMhz, series: p.series, y: p.powerW })), { title: `Power: ${what} (${at})`, xTitle: 'GPU clock (MHz)', yTitle: 'mean power (W)', seriesTitle: 'memory clock' }),
          o.png,
        )),
        ...(await writePlot(
          o.out,
          `${base}-pareto`,
          paretoScatterSpec(points, { title: `${what}: ${points.length} modes (${o.grid} grid), ${front.size} on the Pareto front`, logX: true }),
          o.png,
        )),
      ];
      io.stdout(`${written.join('\n')}\n`);
    });

  for (const c of device.commands) c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  device.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}

