/**
 * Device-level constants of the virtual Jetsons. Peak rates are datasheet arithmetic; the power
 * split and voltage floors are priors (see README.md, "Constants and where they come from"): only
 * their total at MAXN is calibrated against the Orin AGX measurements.
 */
import { AGX_XAVIER, ORIN_AGX, getDevice, type DeviceSpec } from '@fulcrum/core';
import { ValidationError } from '@fulcrum/core';
import type { DevicePhysics } from './physics.js';
import { CALIBRATED } from './calibrated.js';

const top = (xs: readonly number[]): number => Math.max(...xs);

function gridTops(spec: DeviceSpec): Pick<DevicePhysics, 'maxCores' | 'cpuMaxMhz' | 'gpuMaxMhz' | 'emcMaxMhz'> {
  return { maxCores: top(spec.grid.cores), cpuMaxMhz: top(spec.grid.cpuMhz), gpuMaxMhz: top(spec.grid.gpuMhz), emcMaxMhz: top(spec.grid.emcMhz) };
}

/**
 * Jetson Orin AGX 64 GB: Ampere GPU with 2048 CUDA cores (2 FP32 FLOP/cycle each) at 1300.5 MHz;
 * 256-bit LPDDR5 at 3199 MHz (2 transfers/cycle × 32 bytes = 204.7 GB/s); 12 Cortex-A78AE cores.
 * The power split below is scaled by the calibrated `fixedPowerScale` so that its MAXN total
 * matches the measurements.
 */
export const ORIN_AGX_PRIOR: DevicePhysics = {
  deviceId: ORIN_AGX.id,
  gpuPeakFlopsPerS: 2048 * 2 * 1300.5e6,
  memPeakBytesPerS: 3199e6 * 2 * 32,
  ...gridTops(ORIN_AGX),
  cpuSpeed: 1,
  rooflineSharpness: 3,
  coreContention: 0.6,
  voltageFloor: { cpu: 0.55, gpu: 0.6, emc: 0.75 },
  power: { staticW: 6, coreIdleW: 0.35, coreBusyW: 1.8, gpuIdleW: 3.5, emcIdleW: 3 },
  energyScale: { flop: 1, byte: 1 },
};

/** Orin AGX with the calibrated total of the fixed power terms. */
export const ORIN_AGX_PHYSICS: DevicePhysics = withFixedPowerScale(ORIN_AGX_PRIOR, CALIBRATED.fixedPowerScale);

/**
 * Jetson AGX Xavier: Volta GPU with 512 CUDA cores at 1377 MHz (1.41 TFLOP/s FP32); 256-bit
 * LPDDR4x at 2133 MHz (136.5 GB/s); 8 Carmel cores (about 0.75× an A78AE's work per clock).
 * Not calibrated: no Xavier measurements are public here. The per-workload constants are Orin's;
 * energy per FLOP is doubled (12 nm vs 8 nm) and per byte ×1.2 (LPDDR4x vs LPDDR5).
 */
export const AGX_XAVIER_PHYSICS: DevicePhysics = withFixedPowerScale({
  deviceId: AGX_XAVIER.id,
  gpuPeakFlopsPerS: 512 * 2 * 1377e6,
  memPeakBytesPerS: 2133e6 * 2 * 32,
  ...gridTops(AGX_XAVIER),
  cpuSpeed: 0.75,
  rooflineSharpness: 3,
  coreContention: 0.6,
  voltageFloor: { cpu: 0.55, gpu: 0.6, emc: 0.75 },
  power: { staticW: 5, coreIdleW: 0.4, coreBusyW: 2, gpuIdleW: 3, emcIdleW: 2.5 },
  energyScale: { flop: 2, byte: 1.2 },
}, CALIBRATED.fixedPowerScale);

/** The same device with every fixed power term (static, leakage, clock trees, busy core) scaled by `s`. */
export function withFixedPowerScale(physics: DevicePhysics, s: number): DevicePhysics {
  const p = physics.power;
  return {
    ...physics,
    power: { staticW: p.staticW * s, coreIdleW: p.coreIdleW * s, coreBusyW: p.coreBusyW * s, gpuIdleW: p.gpuIdleW * s, emcIdleW: p.emcIdleW * s },
  };
}

export const DEVICE_PHYSICS: readonly DevicePhysics[] = [ORIN_AGX_PHYSICS, AGX_XAVIER_PHYSICS];

/** The devices a virtual backend can model. */
export function virtualDeviceIds(): string[] {
  return DEVICE_PHYSICS.map((p) => p.deviceId);
}

export function getDevicePhysics(deviceId: string, field = 'device'): DevicePhysics {
  getDevice(deviceId, field);
  const physics = DEVICE_PHYSICS.find((p) => p.deviceId === deviceId);
  if (!physics) {
    throw new ValidationError(field, `no virtual model for ${JSON.stringify(deviceId)}; virtual devices: ${virtualDeviceIds().join(', ')}`);
  }
  return physics;
}
