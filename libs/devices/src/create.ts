import { ValidationError } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import type { DeviceBackend } from './backend.js';
import { TableBackend, type ProfileTable } from './profile-table.js';
import type { VirtualWorkloadSpec } from './user-workloads.js';
import { VirtualDevice } from './virtual.js';

/** How to build a backend; the `type` picks the implementation. */
export type BackendConfig =
  | {
      readonly type: 'virtual';
      readonly device?: string;
      readonly noise?: number;
      readonly seed?: number;
      /** User workloads to simulate from their costs (`virtualWorkloadOf` in @fulcrum/workloads). */
      readonly workloads?: readonly VirtualWorkloadSpec[];
    }
  | { readonly type: 'table'; readonly table: ProfileTable; readonly name?: string; readonly noise?: number; readonly seed?: number };

export function createBackend(config: BackendConfig): DeviceBackend {
  switch (config.type) {
    case 'virtual':
      return new VirtualDevice(config.device ?? 'orin-agx', {
        ...(config.noise !== undefined ? { noise: config.noise } : {}),
        ...(config.seed !== undefined ? { seed: config.seed } : {}),
        ...(config.workloads !== undefined ? { workloads: config.workloads } : {}),
      });
    case 'table':
      return new TableBackend(config.table, {
        ...(config.name !== undefined ? { name: config.name } : {}),
        ...(config.noise !== undefined ? { noise: config.noise } : {}),
        ...(config.seed !== undefined ? { seed: config.seed } : {}),
      });
    default:
      throw new ValidationError('type', `unknown backend ${describeValue((config as { type: unknown }).type)}; known: virtual, table`);
  }
}
