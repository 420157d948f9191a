/** What backend a benchmark runs on, in a form a worker thread can rebuild. */
import { SyntheticFamilyDevice, createVirtualDevice, loadProfileTable, createTableBackend, type VirtualWorkloadSpec } from '@fulcrum/devices';
import { fromDeviceBackend, type DeviceProfileBackend } from '@fulcrum/strategies';

export type BackendSpec =
  | {
      readonly type: 'virtual';
      readonly device: string;
      readonly noise?: number;
      readonly seed?: number;
      readonly grid?: string;
      /** User workloads the virtual board simulates from their costs (plain data: it crosses to the worker threads). */
      readonly workloads?: readonly VirtualWorkloadSpec[];
    }
  | { readonly type: 'table'; readonly path: string; readonly noise?: number; readonly seed?: number }
  /** A variant of the synthetic device family (not the roofline shape; `family:N` on the CLI). */
  | { readonly type: 'family'; readonly variant: number; readonly device?: string; readonly noise?: number; readonly seed?: number; readonly grid?: string };

export async function openBackend(spec: BackendSpec): Promise<DeviceProfileBackend> {
  if (spec.type === 'family') {
    const device = new SyntheticFamilyDevice(spec.device ?? 'orin-agx', {
      variant: spec.variant,
      ...(spec.noise !== undefined ? { noise: spec.noise } : {}),
      ...(spec.seed !== undefined ? { seed: spec.seed } : {}),
    });
    return fromDeviceBackend(device, spec.grid !== undefined ? { grid: spec.grid } : {});
  }
  if (spec.type === 'virtual') {
    const device = createVirtualDevice(spec.device, {
      ...(spec.noise !== undefined ? { noise: spec.noise } : {}),
      ...(spec.seed !== undefined ? { seed: spec.seed } : {}),
      ...(spec.workloads?.length ? { workloads: spec.workloads } : {}),
    });
    return fromDeviceBackend(device, spec.grid !== undefined ? { grid: spec.grid } : {});
  }
  const table = await loadProfileTable(spec.path);
  return fromDeviceBackend(
    createTableBackend(table, {
      name: spec.path,
      ...(spec.noise !== undefined ? { noise: spec.noise } : {}),
      ...(spec.seed !== undefined ? { seed: spec.seed } : {}),
    }),
  );
}
