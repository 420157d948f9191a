/**
 * Every Jetson file the backend reads or writes, as the path on a real board. The sysfs I/O layer
 * prefixes each with the configured root (`FULCRUM_SYSFS_ROOT`, default `/`), so tests and the
 * `fulcrum device fake-sysfs` tree use the very same paths.
 *
 * Sources (see the README's "Paths and their sources" for the full list):
 * - [kernel-cpufreq] Linux admin guide, "CPU Performance Scaling" (cpufreq policy attributes, kHz);
 *   Linux `drivers/base/cpu.c` (cpuN/online).
 * - [kernel-devfreq] Linux ABI `sysfs-class-devfreq` (min_freq, max_freq, cur_freq,
 *   available_frequencies, governor, available_governors; Hz).
 * - [nvpmodel] `/etc/nvpmodel.conf` of JetPack and `nvpmodel -q --verbose` output: CPU_ONLINE
 *   `cpu%d/online`, GPU `17000000.gv11b/devfreq/17000000.gv11b/{available_frequencies,min_freq,max_freq}`,
 *   EMC `MAX_FREQ /sys/kernel/nvpmodel_emc_cap/emc_iso_cap`, `TPC_PG_MASK /sys/devices/gpu.0/tpc_pg_mask`.
 * - [jtop] rbonghi/jetson_stats `jtop/core/gpu.py` (iGPU found under /sys/class/devfreq by
 *   `device/of_node/name` in ga10b/gv11b/gp10b/gpu), `power.py` (INA3221 under the i2c bus,
 *   `hwmon*` directories, `in*_label`, `in*_input` mV, `curr*_input` mA, skip "NC" and channel 7).
 * - [nv-clocks] NVIDIA Jetson Linux Developer Guide, "Clocks" (r36.x): BPMP debugfs
 *   `/sys/kernel/debug/bpmp/debug/clk/<clock>/{rate,min_rate,max_rate,mrq_rate_locked}`; the same
 *   files `jetson_clocks` uses (`FreqOverride` = mrq_rate_locked).
 * - [bpmp-emc] `/sys/kernel/debug/bpmp/debug/emc/possible_rates` (kHz) — BPMP firmware's EMC DVFS
 *   table on T186/T194/T234, as read by Jetson tuning scripts and board reports.
 * - [tegra186-emc] Linux `drivers/memory/tegra/tegra186-emc.c`: debugfs `/sys/kernel/debug/emc/`
 *   `available_rates` (Hz), `min_rate`, `max_rate` (writes of a rate not in the table fail EINVAL).
 * - [energymon] energymon/energymon `jetson/JetsonPowerRails.md` and `jetson/README.md`: INA3221
 *   rails per board (AGX Orin: VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0; AGX Xavier 0x40 GPU/CPU/SOC,
 *   0x41 CV/VDDRQ/SYS5V; Orin NX/Nano 0x40 VDD_IN, VDD_CPU_GPU_CV, VDD_SOC).
 * - [nv-power] NVIDIA Jetson Linux Developer Guide, "Platform Power and Performance" for Orin
 *   (r35/r36): rail descriptions (VDDQ_VDD2_1V8AO is included in VIN_SYS_5V0), power modes.
 * - [kernel-thermal] Linux ABI `sysfs-class-thermal` (thermal_zoneN/{type,temp}, millidegrees C).
 * - [devicetree] Linux `Documentation/devicetree/bindings/arm/tegra.yaml` (board compatibles:
 *   `nvidia,p2972-0000` + `nvidia,tegra194` AGX Xavier devkit; `nvidia,p3737-0000+p3701-0000`,
 *   `nvidia,p3701-*`, `nvidia,tegra234` AGX Orin; `nvidia,p3767-*` Orin NX/Nano).
 */

/** [devicetree] NUL-terminated board name. */
export const DT_MODEL = '/proc/device-tree/model';
/** [devicetree] NUL-separated compatible strings, most specific first. */
export const DT_COMPATIBLE = '/proc/device-tree/compatible';
/** Changes at every boot: a state file from another boot is stale. */
export const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** [kernel-cpufreq] */
export const CPU_DIR = '/sys/devices/system/cpu';
export const CPU_POSSIBLE = `${CPU_DIR}/possible`;
export const cpuOnlinePath = (cpu: number): string => `${CPU_DIR}/cpu${cpu}/online`;
export const CPUFREQ_DIR = `${CPU_DIR}/cpufreq`;
export const policyDir = (policy: string): string => `${CPUFREQ_DIR}/${policy}`;
export const POLICY_FILES = {
  relatedCpus: 'related_cpus',
  availableFrequencies: 'scaling_available_frequencies',
  minKhz: 'scaling_min_freq',
  maxKhz: 'scaling_max_freq',
  curKhz: 'scaling_cur_freq',
  governor: 'scaling_governor',
  availableGovernors: 'scaling_available_governors',
} as const;

/** [kernel-devfreq] [jtop] Devfreq devices; the iGPU is one of them. */
export const DEVFREQ_CLASS = '/sys/class/devfreq';
export const DEVFREQ_FILES = {
  availableFrequencies: 'available_frequencies',
  minHz: 'min_freq',
  maxHz: 'max_freq',
  curHz: 'cur_freq',
  governor: 'governor',
  availableGovernors: 'available_governors',
} as const;
/**
 * [jtop] [nvpmodel] Known places of the GPU devfreq directory, tried after /sys/class/devfreq:
 * Orin on JetPack 5 (`17000000.ga10b`), AGX Xavier (`17000000.gv11b`), JetPack 6 (`17000000.gpu`).
 */
export const GPU_DEVFREQ_CANDIDATES = [
  '/sys/devices/platform/17000000.ga10b/devfreq/17000000.ga10b',
  '/sys/devices/17000000.ga10b/devfreq/17000000.ga10b',
  '/sys/devices/17000000.gv11b/devfreq/17000000.gv11b',
  '/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu',
  '/sys/devices/gpu.0/devfreq/17000000.ga10b',
] as const;
/** [jtop] Device-tree node names of Jetson iGPUs. */
export const GPU_OF_NODE_NAMES = ['ga10b', 'gv11b', 'gp10b', 'gpu'] as const;

/** [nv-clocks] The BPMP's EMC clock; `rate` in Hz, pinned while `mrq_rate_locked` is 1. */
export const BPMP_EMC_DIR = '/sys/kernel/debug/bpmp/debug/clk/emc';
export const BPMP_EMC_FILES = { rateHz: 'rate', minHz: 'min_rate', maxHz: 'max_rate', locked: 'mrq_rate_locked' } as const;
/** [bpmp-emc] The EMC DVFS table, kHz. */
export const BPMP_EMC_POSSIBLE_RATES = '/sys/kernel/debug/bpmp/debug/emc/possible_rates';
/** [nvpmodel] nvpmodel's EMC cap, Hz; 0 = no cap. */
export const NVPMODEL_EMC_CAP = '/sys/kernel/nvpmodel_emc_cap/emc_iso_cap';
/** [tegra186-emc] The mainline EMC driver's debugfs: table (Hz) and min/max limits. */
export const EMC_DEBUGFS_DIR = '/sys/kernel/debug/emc';
export const EMC_DEBUGFS_FILES = { availableRates: 'available_rates', minHz: 'min_rate', maxHz: 'max_rate' } as const;

/** [jtop] [energymon] INA3221 power monitors (mainline `ina3221` driver, JetPack ≥ 5). */
export const INA3221_DRIVER_DIR = '/sys/bus/i2c/drivers/ina3221';

/** [kernel-thermal] */
export const THERMAL_CLASS = '/sys/class/thermal';

/**
 * Files the backend must never write: GPU TPC/FBP/GPC power-gating masks and rail-gating
 * ([nvpmodel] TPC_PG_MASK; [jtop] railgate_enable). The writer refuses any path matching this,
 * whatever the caller asks (SPEC §3: never change TPC/FBP power-gating masks at run time).
 */
export const NEVER_WRITE = /(tpc_pg_mask|fbp_pg_mask|gpc_pg_mask|tpc_fs_mask|railgate_enable)$/;
