export {
  validateProfileKey,
  validateProfileFilter,
  validateProfileResult,
  keyOf,
  describeProfileKey,
  compareProfileKeys,
  matchesFilter,
} from './profile-store.js';
export type { ProfileKey, ProfileFilter, ProfileResult, ProfileStore, ProfileStoreBackend } from './profile-store.js';
export { openSqliteProfileStore } from './sqlite.js';
export type { SqliteProfileStoreOptions } from './sqlite.js';
export { DEFAULT_PROFILE_BUCKET, openKvProfileStore, profileKvKey } from './kv.js';
export type { KvProfileStoreOptions } from './kv.js';
export { DEFAULT_SQLITE_PATH, openProfileStore } from './config.js';
export type { ProfileStoreConfig } from './config.js';
