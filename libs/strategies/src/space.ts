/**
 * The power modes a strategy may choose from, as a lattice: each knob's values sorted ascending,
 * a mode is a point (one value index per knob) and has one flat index. Strategies work on indices
 * (typed arrays over the lattice); PowerMode objects appear only at the edges.
 *
 * A backend built from a profile table answers only the modes it contains, so the lattice can have
 * holes: `available(i)` says which indices exist.
 */
import { POWER_MODE_KNOBS, ValidationError, formatPowerMode, type PowerMode, type PowerModeGrid } from '@fulcrum/core';

export const KNOB_COUNT = 4;

/** Every combination of −1, 0, +1 level on the four knobs but none: single moves, exchanges, diagonals (80). */
export const KNOB_MOVES: readonly (readonly number[])[] = Array.from({ length: 81 }, (_, code) => [0, 1, 2, 3].map((k) => (Math.floor(code / 3 ** k) % 3) - 1)).filter((mv) => mv.some((d) => d !== 0));

export class ModeSpace {
  /** Each knob's values, ascending, in POWER_MODE_KNOBS order (cores, cpuMhz, gpuMhz, emcMhz). */
  readonly axes: readonly (readonly number[])[];
  /** Number of values per knob. */
  readonly dims: readonly number[];
  /** Flat index stride per knob (EMC varies fastest, cores slowest, as core's enumerateModes). */
  readonly strides: readonly number[];
  /** Lattice size, holes included. */
  readonly size: number;
  /** Flat indices of the modes that exist, ascending. */
  readonly indices: Int32Array;
  private readonly mask: Uint8Array | undefined;

  private constructor(axes: readonly (readonly number[])[], present: Uint8Array | undefined) {
    this.axes = axes;
    this.dims = axes.map((a) => a.length);
    const strides = [0, 0, 0, 0];
    let s = 1;
    for (let k = KNOB_COUNT - 1; k >= 0; k--) {
      strides[k] = s;
      s *= this.dims[k]!;
    }
    this.strides = strides;
    this.size = s;
    if (present && present.every((v) => v === 1)) present = undefined;
    this.mask = present;
    if (present) {
      const list: number[] = [];
      for (let i = 0; i < s; i++) if (present[i]) list.push(i);
      this.indices = Int32Array.from(list);
    } else {
      this.indices = Int32Array.from({ length: s }, (_, i) => i);
    }
    if (this.indices.length === 0) throw new ValidationError('modes', 'the mode space is empty');
  }

  /** Every mode of a grid (the full cross product). */
  static fromGrid(grid: PowerModeGrid): ModeSpace {
    return new ModeSpace(
      POWER_MODE_KNOBS.map((k) => [...new Set(grid[k])].sort((a, b) => a - b)),
      undefined,
    );
  }

  /** Exactly the given modes (e.g. the rows of a profile table): the lattice of their knob values, with holes. */
  static fromModes(modes: Iterable<PowerMode>): ModeSpace {
    const list = [...modes];
    if (list.length === 0) throw new ValidationError('modes', 'no modes given');
    const axes = POWER_MODE_KNOBS.map((k) => [...new Set(list.map((m) => m[k]))].sort((a, b) => a - b));
    const probe = new ModeSpace(axes, undefined);
    const present = new Uint8Array(probe.size);
    for (const m of list) present[probe.indexOf(m)!] = 1;
    return new ModeSpace(axes, present);
  }

  get count(): number {
    return this.indices.length;
  }

  available(index: number): boolean {
    return index >= 0 && index < this.size && (this.mask === undefined || this.mask[index] === 1);
  }

  /** Value index of knob k in a flat index. */
  level(index: number, knob: number): number {
    return Math.floor(index / this.strides[knob]!) % this.dims[knob]!;
  }

  levels(index: number): number[] {
    return [0, 1, 2, 3].map((k) => this.level(index, k));
  }

  indexOfLevels(levels: readonly number[]): number {
    let i = 0;
    for (let k = 0; k < KNOB_COUNT; k++) i += levels[k]! * this.strides[k]!;
    return i;
  }

  /** The flat index with knob k moved by `delta` levels, or -1 when that leaves the lattice. */
  shifted(index: number, knob: number, delta: number): number {
    const l = this.level(index, knob) + delta;
    if (l < 0 || l >= this.dims[knob]!) return -1;
    return index + delta * this.strides[knob]!;
  }

  mode(index: number): PowerMode {
    const [c, p, g, e] = this.levels(index) as [number, number, number, number];
    return { cores: this.axes[0]![c]!, cpuMhz: this.axes[1]![p]!, gpuMhz: this.axes[2]![g]!, emcMhz: this.axes[3]![e]! };
  }

  /** The flat index of a mode on the lattice (knob values within 1e-6), or undefined. */
  indexOf(mode: PowerMode): number | undefined {
    let i = 0;
    for (let k = 0; k < KNOB_COUNT; k++) {
      const v = mode[POWER_MODE_KNOBS[k]!];
      const l = this.axes[k]!.findIndex((x) => Math.abs(x - v) <= 1e-6);
      if (l < 0) return undefined;
      i += l * this.strides[k]!;
    }
    return this.available(i) ? i : undefined;
  }

  /** The mode with every knob at its top value (MAXN), or the available mode closest to it. */
  topIndex(): number {
    const top = this.indexOfLevels(this.dims.map((d) => d - 1));
    if (this.available(top)) return top;
    return this.nearestAvailable(top);
  }

  /** The available index with the smallest level distance (L1) to `index`. */
  nearestAvailable(index: number): number {
    if (this.available(index)) return index;
    const target = this.levels(index);
    let best = this.indices[0]!;
    let bestD = Infinity;
    for (const i of this.indices) {
      let d = 0;
      for (let k = 0; k < KNOB_COUNT; k++) d += Math.abs(this.level(i, k) - target[k]!) / Math.max(1, this.dims[k]! - 1);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  /** Every knob's level normalised to [0, 1] (for surrogates and distances). */
  unitCoordinates(index: number, out: number[] = [0, 0, 0, 0]): number[] {
    for (let k = 0; k < KNOB_COUNT; k++) {
      const d = this.dims[k]!;
      out[k] = d > 1 ? this.level(index, k) / (d - 1) : 1;
    }
    return out;
  }

  describe(index: number): string {
    return formatPowerMode(this.mode(index));
  }
}
