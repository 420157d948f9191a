import { DT_COMPATIBLE, DT_MODEL } from './paths.js';
import { readOptional, type SysfsIo } from './sysfs-io.js';

/** Which Jetson this is, from the device tree; the grid itself always comes from sysfs. */
export interface BoardIdentity {
  /** Fulcrum device id: `orin-agx`, `agx-xavier`, `orin-nx`, `orin-nano`, `xavier-nx`, `jetson-t234`, `jetson-unknown`. */
  readonly id: string;
  /** The board's own name (`/proc/device-tree/model`). */
  readonly model: string;
  readonly compatible: readonly string[];
  readonly soc: 'tegra234' | 'tegra194' | 'tegra186' | 'tegra210' | 'unknown';
  /**
   * INA3221 rails whose sum is the board's power ([energymon], SPEC §3). Orin AGX:
   * VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 (VDDQ_VDD2_1V8AO is inside VIN_SYS_5V0 per NVIDIA's
   * Orin power guide, so it is not added); AGX Xavier: all six module rails; Orin NX/Nano and
   * Xavier NX: VDD_IN, the module input.
   */
  readonly totalRails: readonly string[];
}

interface BoardRule {
  readonly id: string;
  readonly soc: BoardIdentity['soc'];
  readonly compatible: RegExp;
  readonly model?: RegExp;
  readonly totalRails: readonly string[];
}

// Order matters: the first rule whose compatible (or model) matches wins.
const RULES: readonly BoardRule[] = [
  // AGX Orin module P3701 (devkit carrier P3737; IGX carrier P3740).
  { id: 'orin-agx', soc: 'tegra234', compatible: /^nvidia,p3701-/u, model: /AGX Orin/iu, totalRails: ['VDD_GPU_SOC', 'VDD_CPU_CV', 'VIN_SYS_5V0'] },
  // Orin NX (P3767-0000/0001) and Orin Nano (P3767-0003/0004/0005) share the P3767 module family.
  { id: 'orin-nx', soc: 'tegra234', compatible: /^nvidia,p3767-000[01]$/u, model: /Orin NX/iu, totalRails: ['VDD_IN'] },
  { id: 'orin-nano', soc: 'tegra234', compatible: /^nvidia,p3767-000[345]$/u, model: /Orin Nano/iu, totalRails: ['VDD_IN'] },
  // AGX Xavier module P2888 on the P2822 devkit carrier (devkit compatible nvidia,p2972-0000).
  {
    id: 'agx-xavier',
    soc: 'tegra194',
    compatible: /^nvidia,(p2888-|p2972-|galen|jetson-xavier$)/u,
    model: /AGX Xavier|^Jetson-AGX$/iu,
    totalRails: ['GPU', 'CPU', 'SOC', 'CV', 'VDDRQ', 'SYS5V'],
  },
  { id: 'xavier-nx', soc: 'tegra194', compatible: /^nvidia,p3668-/u, model: /Xavier NX/iu, totalRails: ['VDD_IN'] },
];

/** Parses a device-tree string list (NUL-separated). */
export function parseDtStrings(text: string): string[] {
  return text.split('\0').map((s) => s.trim()).filter((s) => s !== '');
}

export function identifyBoard(model: string, compatible: readonly string[]): BoardIdentity {
  const socOf = (): BoardIdentity['soc'] => {
    for (const soc of ['tegra234', 'tegra194', 'tegra186', 'tegra210'] as const) if (compatible.includes(`nvidia,${soc}`)) return soc;
    return 'unknown';
  };
  for (const rule of RULES) {
    if (compatible.some((c) => rule.compatible.test(c))) return { id: rule.id, model, compatible, soc: rule.soc, totalRails: rule.totalRails };
  }
  for (const rule of RULES) {
    if (rule.model?.test(model)) return { id: rule.id, model, compatible, soc: rule.soc, totalRails: rule.totalRails };
  }
  const soc = socOf();
  // An unknown board: VDD_IN (the module input) when it has one, else every labelled rail (see power.ts).
  return { id: soc === 'unknown' ? 'jetson-unknown' : `jetson-${soc.replace('tegra', 't')}`, model, compatible, soc, totalRails: ['VDD_IN'] };
}

/** Reads `/proc/device-tree/{model,compatible}` under the root and identifies the board. */
export async function readBoardIdentity(io: SysfsIo): Promise<BoardIdentity> {
  const model = parseDtStrings((await readOptional(io, DT_MODEL)) ?? '')[0] ?? '';
  const compatible = parseDtStrings((await readOptional(io, DT_COMPATIBLE)) ?? '');
  return identifyBoard(model, compatible);
}
