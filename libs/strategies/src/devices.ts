/**
 * @fulcrum/devices backends (the virtual Jetson, profile tables) as strategy backends.
 *
 * Measurements are read from the device's noisy tables over its grid (`measureTable`, repeat 0:
 * the same numbers `measure` gives, one seeded draw per (workload, kind, batch, mode)), built once
 * per (workload, kind, batch) and kept, so a mode costs a few array reads however often strategies
 * ask; the charge for profiling it is still counted per strategy run. Ground truth comes from
 * `groundTruthTable`. A table backend's mode space is exactly the modes its CSV holds.
 */
import { type PowerModeGrid, type WorkloadKind } from '@fulcrum/core';
import { SYSTEMATIC_VARIANCE_SHARE, type DeviceBackend, type GroundTruthTable, type TableBackend } from '@fulcrum/devices';
import { gridIndex } from '@fulcrum/devices/internal';
import type { ProfileBackend } from './profiler.js';
import { ModeSpace } from './space.js';
import { DEFAULT_PROTOCOL, profilingCostS, remeasureMinibatchesOf, type ProfilingProtocol } from './synthetic.js';
import { MeasurementTable, measuredValueOf, type MeasuredValue, type ModeMeasurement, type TableKey } from './table.js';

export interface DeviceAdapterOptions {
  /** A grid of the device (or a sub-grid name such as `4368`) to search; default the full grid. Virtual devices only. */
  readonly grid?: PowerModeGrid | string;
  readonly protocol?: ProfilingProtocol;
  /** How many (workload, kind, batch) tables to keep (each is a few hundred kB). */
  readonly tablesKept?: number;
}

export interface DeviceProfileBackend extends ProfileBackend {
  readonly source: DeviceBackend;
}

export function fromDeviceBackend(source: DeviceBackend, options: DeviceAdapterOptions = {}): DeviceProfileBackend {
  const device = source.device;
  const deviceGrid = device.grid;
  const index = gridIndex(deviceGrid);
  let space: ModeSpace;
  if (source.type === 'table') {
    space = ModeSpace.fromModes((source as TableBackend).table.modes());
  } else {
    const g = options.grid === undefined ? deviceGrid : typeof options.grid === 'string' ? (device.subGrids[options.grid] ?? (options.grid === 'full' ? deviceGrid : undefined)) : options.grid;
    if (!g) throw new Error(`unknown grid ${String(options.grid)} for ${device.id}`);
    space = ModeSpace.fromGrid(g);
  }
  // Our index → the device grid's index (the devices tables are over the full device grid).
  const toDevice = new Int32Array(space.size).fill(-1);
  for (const m of space.indices) toDevice[m] = index.indexOf(space.mode(m));
  const protocol = options.protocol ?? DEFAULT_PROTOCOL;
  const kept = options.tablesKept ?? 64;
  const noisy = new Map<string, GroundTruthTable>();
  // Windows of the protocol's measured minibatches: each measurement carries the standard errors
  // its samples show. An exact table's measurements carry its rows' own (when its CSV has them).
  const windowOptions = { samples: protocol.measuredMinibatches };
  // A re-measure's window is the protocol's longer one (see `ProfilingProtocol.remeasureMinibatches`).
  const againOptions = { samples: remeasureMinibatchesOf(protocol) };
  const noisyTable = (workload: string, kind: WorkloadKind, batch: number): GroundTruthTable => {
    const id = `${workload}|${kind}|${batch}`;
    let t = noisy.get(id);
    if (!t) {
      t = source.noise === 0 ? (source.type === 'table' ? source.measureTable(workload, kind, batch) : source.groundTruthTable(workload, kind, batch)) : source.measureTable(workload, kind, batch, undefined, windowOptions);
      if (noisy.size >= kept) noisy.delete(noisy.keys().next().value!);
      noisy.set(id, t);
    } else {
      // Least recently used goes first.
      noisy.delete(id);
      noisy.set(id, t);
    }
    return t;
  };
  const read = (t: GroundTruthTable, d: number): MeasuredValue | undefined =>
    Number.isNaN(t.timeMs[d]!) ? undefined : measuredValueOf({ timeMs: t.timeMs[d]!, powerW: t.powerW[d]!, timeSeMs: t.timeSeMs?.[d], powerSeW: t.powerSeW?.[d], samples: t.samples });
  // A later window of one mode (a re-measure): one query per entry, with its own repeat's draws.
  // The source has the query exactly when the first window's table has a figure for the mode
  // (looked up without reordering the kept tables: a re-measure reads every batch size's).
  const readAgain = (workload: string, kind: WorkloadKind, batchSize: number, modeIndex: number, d: number, repeat: number): MeasuredValue | undefined => {
    if (Number.isNaN((noisy.get(`${workload}|${kind}|${batchSize}`) ?? noisyTable(workload, kind, batchSize)).timeMs[d]!)) return undefined;
    const query = { workload, kind, batchSize, mode: space.mode(modeIndex) };
    return measuredValueOf(source.measure(query, source.noise > 0 ? { repeat, ...againOptions } : { repeat }));
  };
  const hasKnown = (workload: string): boolean => source.workloads().includes(workload);
  return {
    source,
    deviceId: device.id,
    space,
    presets: device.presets,
    noiseFraction: source.noise,
    systematicFraction: source.type === 'table' ? 0 : Math.sqrt(SYSTEMATIC_VARIANCE_SHARE) * source.noise,
    // A fresh window per repeat on a noisy source; an exact table's repeat is the same row again.
    remeasures: source.noise > 0,
    measure(key: TableKey, modeIndex: number, options: { readonly repeat?: number | undefined } = {}): ModeMeasurement {
      const d = toDevice[modeIndex]!;
      if (d < 0) throw new RangeError(`mode index ${modeIndex} is not on ${device.id}`);
      const repeat = options.repeat ?? 0;
      const value = (workload: string, kind: WorkloadKind, batch: number): MeasuredValue | undefined =>
        !hasKnown(workload) ? undefined : repeat === 0 ? read(noisyTable(workload, kind, batch), d) : readAgain(workload, kind, batch, modeIndex, d, repeat);
      const training = value(key.trainWorkload, 'train', key.trainBatchSize);
      const inference = key.streams.map((s) => s.candidateBatchSizes.map((b) => value(s.workload, 'infer', b)));
      // A table without a training row for this mode: the mode cannot host the problem.
      const t = training ?? { timeS: Number.NaN, powerW: Number.NaN };
      return { training: t, inference, costS: training ? profilingCostS(protocol, training, inference, repeat > 0) : protocol.switchS + protocol.settleS };
    },
    groundTruth(key: TableKey): MeasurementTable {
      const table = MeasurementTable.forKey(space.size, key);
      const fill = (t: GroundTruthTable, timeInto: Float64Array, powerInto: Float64Array): void => {
        for (const m of space.indices) {
          const d = toDevice[m]!;
          const ms = t.timeMs[d]!;
          if (Number.isNaN(ms)) continue;
          timeInto[m] = ms / 1000;
          powerInto[m] = t.powerW[d]!;
        }
      };
      if (hasKnown(key.trainWorkload)) fill(source.groundTruthTable(key.trainWorkload, 'train', key.trainBatchSize), table.trainTimeS, table.trainPowerW);
      key.streams.forEach((s, si) =>
        s.candidateBatchSizes.forEach((b, bi) => {
          if (hasKnown(s.workload)) fill(source.groundTruthTable(s.workload, 'infer', b), table.inferTimeS[si]![bi]!, table.inferPowerW[si]![bi]!);
        }),
      );
      for (const m of space.indices) {
        if (!table.has(m)) continue;
        const mm = table.get(m)!;
        table.costS[m] = profilingCostS(protocol, mm.training, mm.inference);
      }
      return table;
    },
  };
}
