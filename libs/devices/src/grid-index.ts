/**
 * Mode index ↔ mode for a grid, in `enumerateModes` order (cores slowest, EMC fastest):
 * index = ((coreIdx·nCpu + cpuIdx)·nGpu + gpuIdx)·nEmc + emcIdx. Ground-truth tables are
 * Float64Arrays over this index.
 */
import { gridSize, type PowerMode, type PowerModeGrid } from '@fulcrum/core';

const TOLERANCE = 1e-6;

function lookup(values: readonly number[]): (v: number) => number {
  const exact = new Map<number, number>(values.map((v, i) => [v, i]));
  return (v) => {
    const i = exact.get(v);
    if (i !== undefined) return i;
    return values.findIndex((x) => Math.abs(x - v) <= TOLERANCE);
  };
}

export class GridIndex {
  readonly size: number;
  /** Knob values per mode index, for loops that must not allocate. */
  readonly cores: Float64Array;
  readonly cpuMhz: Float64Array;
  readonly gpuMhz: Float64Array;
  readonly emcMhz: Float64Array;
  private readonly find: { cores: (v: number) => number; cpuMhz: (v: number) => number; gpuMhz: (v: number) => number; emcMhz: (v: number) => number };

  constructor(readonly grid: PowerModeGrid) {
    this.size = gridSize(grid);
    this.cores = new Float64Array(this.size);
    this.cpuMhz = new Float64Array(this.size);
    this.gpuMhz = new Float64Array(this.size);
    this.emcMhz = new Float64Array(this.size);
    let i = 0;
    for (const c of grid.cores)
      for (const p of grid.cpuMhz)
        for (const g of grid.gpuMhz)
          for (const e of grid.emcMhz) {
            this.cores[i] = c;
            this.cpuMhz[i] = p;
            this.gpuMhz[i] = g;
            this.emcMhz[i] = e;
            i++;
          }
    this.find = { cores: lookup(grid.cores), cpuMhz: lookup(grid.cpuMhz), gpuMhz: lookup(grid.gpuMhz), emcMhz: lookup(grid.emcMhz) };
  }

  modeAt(index: number): PowerMode {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) throw new RangeError(`mode index ${index} outside 0…${this.size - 1}`);
    return { cores: this.cores[index]!, cpuMhz: this.cpuMhz[index]!, gpuMhz: this.gpuMhz[index]!, emcMhz: this.emcMhz[index]! };
  }

  /** The mode's index, or −1 when it is not on this grid. */
  indexOf(mode: PowerMode): number {
    const c = this.find.cores(mode.cores);
    const p = this.find.cpuMhz(mode.cpuMhz);
    const g = this.find.gpuMhz(mode.gpuMhz);
    const e = this.find.emcMhz(mode.emcMhz);
    if (c < 0 || p < 0 || g < 0 || e < 0) return -1;
    return this.fromKnobIndices(c, p, g, e);
  }

  /** Positions of each knob in its value list. */
  knobIndices(index: number): [cores: number, cpu: number, gpu: number, emc: number] {
    const g = this.grid;
    const e = index % g.emcMhz.length;
    let r = (index - e) / g.emcMhz.length;
    const gi = r % g.gpuMhz.length;
    r = (r - gi) / g.gpuMhz.length;
    const p = r % g.cpuMhz.length;
    const c = (r - p) / g.cpuMhz.length;
    return [c, p, gi, e];
  }

  fromKnobIndices(cores: number, cpu: number, gpu: number, emc: number): number {
    const g = this.grid;
    return ((cores * g.cpuMhz.length + cpu) * g.gpuMhz.length + gpu) * g.emcMhz.length + emc;
  }
}

const cache = new WeakMap<PowerModeGrid, GridIndex>();

/** The (cached) index of a grid. */
export function gridIndex(grid: PowerModeGrid): GridIndex {
  let index = cache.get(grid);
  if (!index) {
    index = new GridIndex(grid);
    cache.set(grid, index);
  }
  return index;
}
