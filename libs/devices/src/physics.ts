/**
 * The virtual Jetson's physics: minibatch time and mean power for any power mode (SPEC §3).
 * The equations are written out in README.md; the symbols here use the same names.
 *
 * Time (seconds):
 *   Tc   = F / (Π·xg)                  compute at the GPU's peak rate Π, scaled by the GPU clock
 *   Tm   = B / (β·xe)                  memory traffic at the EMC's peak bandwidth β
 *   Tgpu = ‖Tc, Tm‖_q / η + g0/xg      roofline (smooth max, q), attained fraction η, fixed GPU latency g0
 *   Tcpu = κ·c0·h(n) / xc              kernel launches and framework overhead on one CPU thread
 *   Tld  = d·b / (κ·xc·w(n))           data loading (training only), spread over the loader cores
 *   T    = ‖Tcpu, Tgpu, Tld‖_p         p: how well the CPU side overlaps the GPU (1 = not at all)
 * with x = clock / top clock, h(n) = 1 + γ·(1/n − 1/N) (few cores → contention), w(n) = max(n−1, ½).
 *
 * Power (watts), with v(x) = v0 + (1 − v0)·x (voltage rises linearly with the clock) and
 * φ(x) = x·v(x)² (dynamic power ∝ f·V², φ(1) = 1):
 *   P = P0 + n·Pcore·vc² + Pbusy·φc·(1 + Wld/T) + Pgpu·φg + εF·vg²·F/T + Pemc·φe + εB·ve²·B/T
 * (static; online cores' leakage; the busy main thread and the loaders' work rate; GPU clock tree;
 * energy per FLOP × FLOP rate; EMC background; energy per byte × byte rate).
 *
 * Since T is a norm of terms that never grow with any knob, T never grows when a knob rises, and
 * every power term is a rate (work / T) or a clock term: power never falls when a knob rises.
 */
import type { PowerMode, WorkloadKind } from '@fulcrum/core';

/** Device-level constants (from datasheets where they exist; README.md gives each source). */
export interface DevicePhysics {
  readonly deviceId: string;
  /** Peak FP32 FLOP/s at the top GPU clock (CUDA cores × 2 × clock). */
  readonly gpuPeakFlopsPerS: number;
  /** Peak DRAM bandwidth at the top EMC clock, bytes/s. */
  readonly memPeakBytesPerS: number;
  readonly maxCores: number;
  readonly cpuMaxMhz: number;
  readonly gpuMaxMhz: number;
  readonly emcMaxMhz: number;
  /** CPU work per clock relative to the calibration board's cores (Orin's Cortex-A78AE = 1). */
  readonly cpuSpeed: number;
  /** q: sharpness of the compute/memory roofline corner. */
  readonly rooflineSharpness: number;
  /** γ: how much the launch thread suffers with few online cores. */
  readonly coreContention: number;
  /** v0: voltage at the bottom of each clock range relative to the top. */
  readonly voltageFloor: { readonly cpu: number; readonly gpu: number; readonly emc: number };
  readonly power: {
    /** P0: always-on rails (SoC, regulators, I/O), W. */
    readonly staticW: number;
    /** Pcore: leakage of one online core at the top CPU clock, W. */
    readonly coreIdleW: number;
    /** Pbusy: one fully busy core at the top CPU clock, W. */
    readonly coreBusyW: number;
    /** Pgpu: GPU clock tree and leakage at the top GPU clock, W. */
    readonly gpuIdleW: number;
    /** Pemc: DRAM and EMC background at the top EMC clock, W. */
    readonly emcIdleW: number;
  };
  /** Multipliers on the workloads' energy per FLOP / per byte (process and memory technology). */
  readonly energyScale: { readonly flop: number; readonly byte: number };
}

/** Per-workload constants: fitted to measurements, or borrowed from a similar workload. */
export interface WorkloadConstants {
  /** η: attained fraction of the roofline (0–1]. */
  readonly efficiency: number;
  /** c0: CPU-side time per inference minibatch at the top CPU clock with every core online, ms. */
  readonly launchMs: number;
  /** p: CPU/GPU overlap exponent, 1 (serial) … ∞ (perfect overlap). */
  readonly overlap: number;
  /** g0: fixed GPU time per minibatch at the top GPU clock (kernel latencies), ms. */
  readonly gpuFixedMs: number;
  /** εF: energy per FLOP at the top GPU voltage, pJ. */
  readonly pjPerFlop: number;
  /** εB: energy per byte moved at the top EMC voltage, pJ. */
  readonly pjPerByte: number;
  /** d: data loading per training sample on one core at the top CPU clock, ms (not calibrated). */
  readonly loadMsPerSample: number;
  /** Where these numbers come from. */
  readonly provenance: string;
}

/** Training runs forward, backward and the optimizer step: 3× the launches of inference. */
export const TRAINING_LAUNCH_FACTOR = 3;

/** The inputs of one evaluation that do not depend on the mode. */
export interface Workpiece {
  readonly flops: number;
  readonly bytes: number;
  readonly batchSize: number;
  readonly kind: WorkloadKind;
  readonly constants: WorkloadConstants;
}

export interface ModelOutput {
  readonly timeMs: number;
  readonly powerW: number;
}

/** ‖a, b, c‖_p = max·(Σ (x/max)^p)^(1/p), safe for large p. */
function pnorm3(a: number, b: number, c: number, p: number): number {
  const m = Math.max(a, b, c);
  if (m <= 0) return 0;
  return m * Math.pow(Math.pow(a / m, p) + Math.pow(b / m, p) + Math.pow(c / m, p), 1 / p);
}

function pnorm2(a: number, b: number, p: number): number {
  const m = Math.max(a, b);
  if (m <= 0) return 0;
  return m * Math.pow(Math.pow(a / m, p) + Math.pow(b / m, p), 1 / p);
}

/** Precomputed, mode-independent numbers for one (device, workpiece): the hot loop reads these. */
export class CompiledWorkpiece {
  private readonly tcAtTop: number;
  private readonly tmAtTop: number;
  private readonly eta: number;
  private readonly g0: number;
  private readonly c0: number;
  private readonly load: number;
  private readonly p: number;
  private readonly q: number;
  private readonly gamma: number;
  private readonly invN: number;
  private readonly eFlopW: number;
  private readonly eByteW: number;

  constructor(
    readonly physics: DevicePhysics,
    readonly work: Workpiece,
  ) {
    const k = work.constants;
    this.tcAtTop = work.flops / physics.gpuPeakFlopsPerS;
    this.tmAtTop = work.bytes / physics.memPeakBytesPerS;
    this.eta = k.efficiency;
    this.g0 = k.gpuFixedMs / 1000;
    const launchFactor = work.kind === 'train' ? TRAINING_LAUNCH_FACTOR : 1;
    this.c0 = (launchFactor * k.launchMs) / 1000 / physics.cpuSpeed;
    this.load = work.kind === 'train' ? (k.loadMsPerSample * work.batchSize) / 1000 / physics.cpuSpeed : 0;
    this.p = k.overlap;
    this.q = physics.rooflineSharpness;
    this.gamma = physics.coreContention;
    this.invN = 1 / physics.maxCores;
    // pJ × (FLOP/s) → W
    this.eFlopW = k.pjPerFlop * 1e-12 * physics.energyScale.flop * work.flops;
    this.eByteW = k.pjPerByte * 1e-12 * physics.energyScale.byte * work.bytes;
  }

  /** Time (ms) and power (W) on the mode (cores, cpuMhz, gpuMhz, emcMhz). */
  evaluate(cores: number, cpuMhz: number, gpuMhz: number, emcMhz: number): ModelOutput {
    const ph = this.physics;
    const xc = cpuMhz / ph.cpuMaxMhz;
    const xg = gpuMhz / ph.gpuMaxMhz;
    const xe = emcMhz / ph.emcMaxMhz;
    const tc = this.tcAtTop / xg;
    const tm = this.tmAtTop / xe;
    const tGpu = pnorm2(tc, tm, this.q) / this.eta + this.g0 / xg;
    const tCpu = (this.c0 * (1 + this.gamma * (1 / cores - this.invN))) / xc;
    const loadWork = this.load / xc; // core-seconds per minibatch
    const tLoad = loadWork / Math.max(cores - 1, 0.5);
    const t = pnorm3(tCpu, tGpu, tLoad, this.p);

    const v = ph.voltageFloor;
    const vc = v.cpu + (1 - v.cpu) * xc;
    const vg = v.gpu + (1 - v.gpu) * xg;
    const ve = v.emc + (1 - v.emc) * xe;
    const pw = ph.power;
    const power =
      pw.staticW +
      cores * pw.coreIdleW * vc * vc +
      pw.coreBusyW * xc * vc * vc * (1 + loadWork / t) +
      pw.gpuIdleW * xg * vg * vg +
      (this.eFlopW * vg * vg) / t +
      pw.emcIdleW * xe * ve * ve +
      (this.eByteW * ve * ve) / t;
    return { timeMs: t * 1000, powerW: power };
  }

  evaluateMode(mode: PowerMode): ModelOutput {
    return this.evaluate(mode.cores, mode.cpuMhz, mode.gpuMhz, mode.emcMhz);
  }

  /** The parts of the time, for plots and explanations (seconds). */
  breakdown(mode: PowerMode): { computeS: number; memoryS: number; gpuS: number; cpuS: number; loadS: number; totalS: number } {
    const ph = this.physics;
    const xc = mode.cpuMhz / ph.cpuMaxMhz;
    const xg = mode.gpuMhz / ph.gpuMaxMhz;
    const xe = mode.emcMhz / ph.emcMaxMhz;
    const computeS = this.tcAtTop / xg;
    const memoryS = this.tmAtTop / xe;
    const gpuS = pnorm2(computeS, memoryS, this.q) / this.eta + this.g0 / xg;
    const cpuS = (this.c0 * (1 + this.gamma * (1 / mode.cores - this.invN))) / xc;
    const loadS = this.load / xc / Math.max(mode.cores - 1, 0.5);
    return { computeS, memoryS, gpuS, cpuS, loadS, totalS: pnorm3(cpuS, gpuS, loadS, this.p) };
  }
}
