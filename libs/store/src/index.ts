/**
 * @fulcrum/store — the profile store of SPEC §4: every measured result, keyed by (device,
 * software stack, workload, kind, batch size, power mode), so a mode is never profiled twice for
 * the same key.
 *
 * Main entry points: `openProfileStore({ backend: 'sqlite' | 'kv', … })` (or
 * `openSqliteProfileStore`, `openKvProfileStore`) → a `ProfileStore` (`get`, `put`,
 * `putIfAbsent`, `query`, `delete`, `close`) of `ProfileResult`s; `profileKeyOf(result)`,
 * `describeProfileKey`, `compareProfileKeys`.
 *
 * The validators, the filter matcher and the KV key layout are in `@fulcrum/store/internal`.
 */
export { profileKeyOf, describeProfileKey, compareProfileKeys } from './profile-store.js';
export type { ProfileKey, ProfileFilter, ProfileResult, ProfileStore, ProfileStoreBackend } from './profile-store.js';
export { DEFAULT_SQLITE_PATH, openProfileStore } from './config.js';
export type { ProfileStoreConfig } from './config.js';
export { openSqliteProfileStore } from './sqlite.js';
export type { SqliteProfileStoreOptions } from './sqlite.js';
export { DEFAULT_PROFILE_BUCKET, openKvProfileStore } from './kv.js';
export type { KvProfileStoreOptions } from './kv.js';
