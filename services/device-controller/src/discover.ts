import type { PowerModeGrid } from '@fulcrum/core';
import { readBoardIdentity, type BoardIdentity } from './board.js';
import {
  BPMP_EMC_DIR,
  BPMP_EMC_FILES,
  BPMP_EMC_POSSIBLE_RATES,
  CPU_DIR,
  CPU_POSSIBLE,
  CPUFREQ_DIR,
  DEVFREQ_CLASS,
  DEVFREQ_FILES,
  EMC_DEBUGFS_DIR,
  EMC_DEBUGFS_FILES,
  GPU_DEVFREQ_CANDIDATES,
  GPU_OF_NODE_NAMES,
  NVPMODEL_EMC_CAP,
  POLICY_FILES,
  cpuOnlinePath,
  policyDir,
} from './paths.js';
import { naturalCompare, parseCpuList, parseNumberList, readOptional, type SysfsIo } from './sysfs-io.js';

/** One cpufreq policy: a CPU cluster whose cores share a clock. */
export interface CpuCluster {
  /** `policy0`, `policy4`, … (named after the cluster's first CPU). */
  readonly policy: string;
  readonly cpus: readonly number[];
  /** `scaling_available_frequencies`, kHz, ascending. */
  readonly availableKhz: readonly number[];
  readonly availableGovernors: readonly string[];
}

export interface GpuDevfreq {
  /** The devfreq directory (`/sys/class/devfreq/17000000.ga10b` on an Orin). */
  readonly dir: string;
  readonly name: string;
  /** `available_frequencies`, Hz, ascending. */
  readonly availableHz: readonly number[];
  readonly availableGovernors: readonly string[];
}

/** How the EMC (memory) clock is pinned on this board. */
export type EmcControl =
  | {
      /** [nv-clocks] lock the BPMP clock (`mrq_rate_locked` = 1) and write `rate`; what jetson_clocks does. */
      readonly mechanism: 'bpmp-clock-lock';
      readonly availableHz: readonly number[];
      /** Which file gave the table. */
      readonly tableSource: string;
      /** nvpmodel's EMC cap, raised when it would hold the clock below the target; absent if the board has none. */
      readonly capPath?: string;
    }
  | {
      /** [tegra186-emc] the mainline driver's debugfs min/max limits. */
      readonly mechanism: 'emc-debugfs';
      readonly availableHz: readonly number[];
      readonly tableSource: string;
    }
  | { readonly mechanism: 'none'; readonly reason: string };

/** Everything the backend learned from the board's files. */
export interface JetsonBoard {
  readonly identity: BoardIdentity;
  /** Possible CPUs (`/sys/devices/system/cpu/possible`). */
  readonly cpuCount: number;
  readonly clusters: readonly CpuCluster[];
  readonly gpu: GpuDevfreq;
  readonly emc: EmcControl;
  /** The modes this board accepts, read from sysfs (never a hard-coded table). */
  readonly grid: PowerModeGrid;
  /** What a user should know about how the grid was found. */
  readonly notes: readonly string[];
}

/** The board lacks something the backend needs (no cpufreq, no GPU devfreq, …). */
export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
}

export const khzToMhz = (khz: number): number => khz / 1000;
export const hzToMhz = (hz: number): number => hz / 1e6;

const ascending = (xs: readonly number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);

async function readCpuCount(io: SysfsIo): Promise<number> {
  const possible = await readOptional(io, CPU_POSSIBLE);
  if (possible) {
    const cpus = parseCpuList(possible);
    if (cpus.length) return Math.max(...cpus) + 1;
  }
  const dirs = (await io.list(CPU_DIR)).filter((e) => /^cpu\d+$/u.test(e));
  if (!dirs.length) throw new DiscoveryError(`no CPUs under ${CPU_DIR}`);
  return dirs.length;
}

async function readClusters(io: SysfsIo, cpuCount: number, notes: string[]): Promise<CpuCluster[]> {
  const policies = (await io.list(CPUFREQ_DIR)).filter((e) => /^policy\d+$/u.test(e)).sort(naturalCompare);
  if (!policies.length) throw new DiscoveryError(`no cpufreq policies under ${CPUFREQ_DIR}: is the cpufreq driver loaded?`);
  const firsts = policies.map((p) => Number(p.slice('policy'.length)));
  const clusters: CpuCluster[] = [];
  for (const [i, policy] of policies.entries()) {
    const dir = policyDir(policy);
    const related = await readOptional(io, `${dir}/${POLICY_FILES.relatedCpus}`);
    // A policy is named after its first CPU, so the next policy's number bounds this cluster
    // when related_cpus cannot be read.
    const cpus = related ? parseCpuList(related) : Array.from({ length: (firsts[i + 1] ?? cpuCount) - firsts[i]! }, (_, k) => firsts[i]! + k);
    const table = await readOptional(io, `${dir}/${POLICY_FILES.availableFrequencies}`);
    const governors = (await readOptional(io, `${dir}/${POLICY_FILES.availableGovernors}`)) ?? '';
    clusters.push({ policy, cpus, availableKhz: ascending(parseNumberList(table ?? '')), availableGovernors: governors.split(/\s+/u).filter(Boolean) });
  }
  const withTable = clusters.filter((c) => c.availableKhz.length);
  if (!withTable.length) throw new DiscoveryError(`no ${POLICY_FILES.availableFrequencies} readable under ${CPUFREQ_DIR}`);
  if (withTable.length < clusters.length) notes.push(`some cpufreq policies had no readable frequency table; the grid uses the others'`);
  return clusters;
}

/** The CPU clock values every cluster offers (clusters are pinned to the same value). */
function commonCpuKhz(clusters: readonly CpuCluster[], notes: string[]): number[] {
  const tables = clusters.filter((c) => c.availableKhz.length).map((c) => new Set(c.availableKhz));
  const first = [...tables[0]!];
  const common = first.filter((f) => tables.every((t) => t.has(f)));
  if (common.length < first.length) notes.push(`CPU clusters offer different frequency tables; the grid keeps the ${common.length} values all clusters share`);
  return ascending(common);
}

async function findGpu(io: SysfsIo): Promise<GpuDevfreq> {
  const candidates: Array<{ dir: string; name: string }> = [];
  for (const name of await io.list(DEVFREQ_CLASS)) {
    const dir = `${DEVFREQ_CLASS}/${name}`;
    const ofName = await readOptional(io, `${dir}/device/of_node/name`);
    const byNode = ofName !== undefined && (GPU_OF_NODE_NAMES as readonly string[]).includes(ofName);
    const byName = /^[0-9a-f]+\.(ga10b|gv11b|gp10b|gpu)$/u.test(name);
    if (byNode || byName) candidates.push({ dir, name });
  }
  for (const dir of GPU_DEVFREQ_CANDIDATES) {
    if (await io.exists(`${dir}/${DEVFREQ_FILES.maxHz}`)) candidates.push({ dir, name: dir.split('/').at(-1)! });
  }
  for (const { dir, name } of candidates) {
    const table = await readOptional(io, `${dir}/${DEVFREQ_FILES.availableFrequencies}`);
    if (!table) continue;
    const governors = (await readOptional(io, `${dir}/${DEVFREQ_FILES.availableGovernors}`)) ?? '';
    return { dir, name, availableHz: ascending(parseNumberList(table)), availableGovernors: governors.split(/\s+/u).filter(Boolean) };
  }
  throw new DiscoveryError(`no GPU devfreq device with ${DEVFREQ_FILES.availableFrequencies} under ${DEVFREQ_CLASS} or ${GPU_DEVFREQ_CANDIDATES.join(', ')}`);
}

async function findEmc(io: SysfsIo): Promise<EmcControl> {
  const bpmpTableKhz = await readOptional(io, BPMP_EMC_POSSIBLE_RATES);
  const debugfsTableHz = await readOptional(io, `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.availableRates}`);
  const table: { hz: number[]; source: string } | undefined = bpmpTableKhz
    ? { hz: parseNumberList(bpmpTableKhz).map((k) => k * 1000), source: BPMP_EMC_POSSIBLE_RATES }
    : debugfsTableHz
      ? { hz: parseNumberList(debugfsTableHz), source: `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.availableRates}` }
      : undefined;
  const bpmpLockable = (await io.exists(`${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked}`)) && (await io.exists(`${BPMP_EMC_DIR}/${BPMP_EMC_FILES.rateHz}`));
  if (table && table.hz.length && bpmpLockable) {
    const capPath = (await io.exists(NVPMODEL_EMC_CAP)) ? NVPMODEL_EMC_CAP : undefined;
    return { mechanism: 'bpmp-clock-lock', availableHz: ascending(table.hz), tableSource: table.source, ...(capPath ? { capPath } : {}) };
  }
  if (debugfsTableHz && parseNumberList(debugfsTableHz).length && (await io.exists(`${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz}`))) {
    return { mechanism: 'emc-debugfs', availableHz: ascending(parseNumberList(debugfsTableHz)), tableSource: `${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.availableRates}` };
  }
  return {
    mechanism: 'none',
    reason: table
      ? `an EMC rate table exists (${table.source}) but neither ${BPMP_EMC_DIR}/${BPMP_EMC_FILES.locked} nor ${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.minHz} does`
      : `no EMC rate table: ${BPMP_EMC_POSSIBLE_RATES} and ${EMC_DEBUGFS_DIR}/${EMC_DEBUGFS_FILES.availableRates} are missing or unreadable ` +
        `(debugfs needs root and a mounted /sys/kernel/debug)`,
  };
}

/** The core counts reachable by onlining cpu0..cpu(k-1): each CPU from k up must have an `online` file. */
async function reachableCoreCounts(io: SysfsIo, cpuCount: number): Promise<number[]> {
  const hasOnline: boolean[] = [];
  for (let cpu = 0; cpu < cpuCount; cpu++) hasOnline.push(await io.exists(cpuOnlinePath(cpu)));
  const counts: number[] = [];
  for (let k = 1; k <= cpuCount; k++) if (hasOnline.slice(k).every(Boolean)) counts.push(k);
  return counts;
}

/** Reads the board's identity, clusters, GPU, EMC and grid from the files under `io.root`. */
export async function discoverJetson(io: SysfsIo): Promise<JetsonBoard> {
  const notes: string[] = [];
  const identity = await readBoardIdentity(io);
  if (identity.id === 'jetson-unknown') notes.push(`unrecognised board (model ${JSON.stringify(identity.model)}); the grid still comes from sysfs`);
  const cpuCount = await readCpuCount(io);
  const clusters = await readClusters(io, cpuCount, notes);
  const gpu = await findGpu(io);
  const emc = await findEmc(io);
  if (emc.mechanism === 'none') notes.push(`EMC clock not controllable: ${emc.reason}`);
  const grid: PowerModeGrid = {
    cores: await reachableCoreCounts(io, cpuCount),
    cpuMhz: commonCpuKhz(clusters, notes).map(khzToMhz),
    gpuMhz: gpu.availableHz.map(hzToMhz),
    emcMhz: emc.mechanism === 'none' ? [] : emc.availableHz.map(hzToMhz),
  };
  return { identity, cpuCount, clusters, gpu, emc, grid, notes };
}
