import { ValidationError } from '@fulcrum/core';
import { describeValue } from '@fulcrum/core/internal';
import type { EventBus } from '@fulcrum/bus';
import { openKvProfileStore } from './kv.js';
import type { ProfileStore } from './profile-store.js';
import { openSqliteProfileStore } from './sqlite.js';

/** Where the embedded default keeps profiles, relative to the working directory. */
export const DEFAULT_SQLITE_PATH = '.fulcrum/profiles.db';

export type ProfileStoreConfig =
  /** The embedded default: a SQLite file (`path`, default `.fulcrum/profiles.db`). */
  | { readonly backend: 'sqlite'; readonly path?: string | undefined }
  /** Shared: a KV bucket on the bus (JetStream KV when the bus is NATS). */
  | { readonly backend: 'kv'; readonly bus: EventBus; readonly bucket?: string | undefined };

export async function openProfileStore(config: ProfileStoreConfig): Promise<ProfileStore> {
  switch (config?.backend) {
    case 'sqlite':
      return openSqliteProfileStore({ path: config.path ?? DEFAULT_SQLITE_PATH });
    case 'kv':
      if (!config.bus) throw new ValidationError('bus', 'the kv profile store needs a bus');
      return openKvProfileStore(config.bus, { bucket: config.bucket });
    default:
      throw new ValidationError('backend', `must be "sqlite" or "kv", got ${describeValue((config as { backend?: unknown } | undefined)?.backend)}`);
  }
}
