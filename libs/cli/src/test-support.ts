/**
 * What the CLI's tests share (not part of the CLI): the CLI run in this process with its output
 * captured, the four services started in this process, and a profile table of a board and
 * workloads Fulcrum has never seen.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { runCli } from './program.js';
import { loadAllConfigs, startAllServices, type RunningServices } from './stack.js';

/** `fulcrum …` in this process; its exit code and what it printed. */
export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

export const PROFILE_CSV_HEADER = 'device,workload,kind,batch_size,cores,cpu_mhz,gpu_mhz,emc_mhz,time_ms,power_w';

const LEVELS = { cores: [4, 8], cpuMhz: [1000, 2000], gpuMhz: [300, 600, 900], emcMhz: [2000, 3000] } as const;

/**
 * `my-orin` on a 2×2×3×2 grid: `my-trainer` is only trained (bT 12, not any built-in workload's),
 * `my-detector` only served (batch 1–64); times fall and power rises with the clocks.
 */
export function myOrinCsv(inferBatchSizes: readonly number[] = [1, 2, 4, 8, 16, 32, 64]): string {
  const lines = [PROFILE_CSV_HEADER];
  for (const cores of LEVELS.cores)
    for (const cpu of LEVELS.cpuMhz)
      for (const gpu of LEVELS.gpuMhz)
        for (const emc of LEVELS.emcMhz) {
          const speed = (gpu / 900) * 0.7 + (emc / 3000) * 0.2 + (cpu / 2000) * 0.05 + (cores / 8) * 0.05;
          const power = 5 + gpu / 100 + emc / 1000 + cpu / 1000 + cores / 4;
          lines.push(`my-orin,my-trainer,train,12,${cores},${cpu},${gpu},${emc},${(200 / speed).toFixed(3)},${power.toFixed(3)}`);
          for (const b of inferBatchSizes) lines.push(`my-orin,my-detector,infer,${b},${cores},${cpu},${gpu},${emc},${((5 + 2 * b) / speed).toFixed(3)},${(power * 0.8).toFixed(3)}`);
        }
  return lines.join('\n') + '\n';
}

/** The modes of `myOrinCsv`, as `formatPowerMode` writes them. */
export const MY_ORIN_MODES: ReadonlySet<string> = new Set(
  LEVELS.cores.flatMap((c) => LEVELS.cpuMhz.flatMap((cpu) => LEVELS.gpuMhz.flatMap((g) => LEVELS.emcMhz.map((e) => `${c},${cpu},${g},${e}`)))),
);

/**
 * The four services in this process as `fulcrum serve all ARGV` would start them, on free
 * loopback ports with no metrics listeners, nothing from FULCRUM_* env, and the profiles in
 * `dir/p.db`. Close with `close(0)`.
 */
export async function startLocalServices(argv: readonly string[], dir: string): Promise<RunningServices> {
  const local = { 'grpc.port': 0, 'metrics.port': -1 };
  const configs = loadAllConfigs(argv, {}, {
    env: {},
    defaults: { 'device-controller': local, executor: local, profiler: { ...local, 'store.path': join(dir, 'p.db') }, optimizer: local },
  });
  return startAllServices(configs, pino({ level: 'silent' }));
}
