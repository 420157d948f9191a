/**
 * The devices and workloads a problem may name. `BUILTIN_CATALOG` holds Fulcrum's own boards
 * (`DEVICES`) and workloads (`WORKLOADS`); `catalogWith` extends a catalog with a user's, e.g. the
 * device and workloads a profile table names (`@fulcrum/devices`' `tableCatalog`).
 */
import { ValidationError, describeValue, requirePositiveInteger } from './errors.js';
import { DEVICES, type DeviceSpec } from './devices.js';
import { WORKLOADS, requireName, requireToken, type WorkloadDescriptor } from './workloads.js';

export interface Catalog {
  /** The device's spec; a ValidationError on `field` naming the known devices otherwise. */
  device(id: string, field?: string): DeviceSpec;
  /** The workload's descriptor; a ValidationError on `field` naming the known workloads otherwise. */
  workload(id: string, field?: string): WorkloadDescriptor;
  deviceIds(): string[];
  workloadIds(): string[];
}

class ListCatalog implements Catalog {
  constructor(
    private readonly devices: readonly DeviceSpec[],
    private readonly workloads: readonly WorkloadDescriptor[],
  ) {}

  device(id: string, field = 'device'): DeviceSpec {
    const d = this.devices.find((x) => x.id === id);
    if (!d) throw new ValidationError(field, `unknown device ${describeValue(id)}; known devices: ${this.deviceIds().join(', ')}`);
    return d;
  }

  workload(id: string, field = 'workload'): WorkloadDescriptor {
    const w = this.workloads.find((x) => x.id === id);
    if (!w) throw new ValidationError(field, `unknown workload ${describeValue(id)}; known workloads: ${this.workloadIds().join(', ')}`);
    return w;
  }

  deviceIds(): string[] {
    return this.devices.map((d) => d.id);
  }

  workloadIds(): string[] {
    return this.workloads.map((w) => w.id);
  }
}

/** Fulcrum's own boards and workloads. */
export const BUILTIN_CATALOG: Catalog = new ListCatalog(DEVICES, WORKLOADS);

/** A user's workload: only its name and training batch size matter (display name = id). */
export function userWorkload(id: string, defaultTrainBatchSize: number, field = 'workload'): WorkloadDescriptor {
  requireName(field, id, 'a workload name');
  return { id, displayName: id, defaultTrainBatchSize: requirePositiveInteger(`${field}.defaultTrainBatchSize`, defaultTrainBatchSize) };
}

/**
 * `base` plus the given devices and workloads. A name the base already has keeps the base's
 * descriptor (an added device or workload never shadows one of the base's); later duplicates in
 * the lists are ignored. Names must follow the name rule (`[A-Za-z0-9_.-]{1,64}`).
 */
export function catalogWith(base: Catalog, extra: { devices?: readonly DeviceSpec[]; workloads?: readonly WorkloadDescriptor[] }): Catalog {
  const devices = base.deviceIds().map((id) => base.device(id));
  const workloads = base.workloadIds().map((id) => base.workload(id));
  for (const d of extra.devices ?? []) {
    // Device names become subject tokens (fulcrum.<device>.…): the bus's rule.
    requireToken('device', d.id, 'a device name');
    if (!devices.some((x) => x.id === d.id)) devices.push(d);
  }
  for (const w of extra.workloads ?? []) {
    requireName('workload', w.id, 'a workload name');
    if (!workloads.some((x) => x.id === w.id)) workloads.push(w);
  }
  return new ListCatalog(devices, workloads);
}
