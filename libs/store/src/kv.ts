/**
 * The shared backend: a key-value bucket on the bus (JetStream KV on NATS), so several boards
 * and optimizers see one set of profiles. One entry per key; the value is the `ProfileResult`.
 *
 * Key layout: `<device>.<stack>.<workload>.<kind>.b<batch>.<mode>`, each free-text part made a
 * single token with `encodeKeyToken`, so `query` narrows with KV wildcards before reading values.
 */
import { encodeKeyToken, validateBucketName, type EventBus, type KeyValueBucket } from '@fulcrum/bus/internal';
import { formatPowerMode } from '@fulcrum/core';
import {
  compareProfileKeys,
  matchesFilter,
  validateProfileFilter,
  validateProfileKey,
  validateProfileResult,
  type ProfileFilter,
  type ProfileKey,
  type ProfileResult,
  type ProfileStore,
} from './profile-store.js';

export const DEFAULT_PROFILE_BUCKET = 'fulcrum-profiles';

export interface KvProfileStoreOptions {
  /** Bucket name; default `fulcrum-profiles`. */
  readonly bucket?: string | undefined;
}

function keyTokens(key: Partial<ProfileKey>): string[] {
  return [
    key.device ?? '*',
    key.softwareStack === undefined ? '*' : encodeKeyToken(key.softwareStack),
    key.workload === undefined ? '*' : encodeKeyToken(key.workload),
    key.kind ?? '*',
    key.batchSize === undefined ? '*' : `b${key.batchSize}`,
    key.mode === undefined ? '*' : encodeKeyToken(formatPowerMode(key.mode)),
  ];
}

export function profileKvKey(key: ProfileKey): string {
  return keyTokens(key).join('.');
}

/** Opens (creating when missing) the profile bucket on `bus`; closing the store leaves the bus open. */
export async function openKvProfileStore(bus: EventBus, options: KvProfileStoreOptions = {}): Promise<ProfileStore> {
  const bucketName = validateBucketName(options.bucket ?? DEFAULT_PROFILE_BUCKET);
  const bucket: KeyValueBucket<ProfileResult> = await bus.keyValue(bucketName, { decode: (value) => validateProfileResult(value, 'value') });
  let closed = false;
  const open = (): void => {
    if (closed) throw new Error('the profile store is closed');
  };
  return {
    backend: 'kv',
    async get(key: ProfileKey): Promise<ProfileResult | undefined> {
      open();
      return (await bucket.get(profileKvKey(validateProfileKey(key))))?.value;
    },
    async put(result: ProfileResult): Promise<void> {
      open();
      const r = validateProfileResult(result);
      await bucket.put(profileKvKey(r), r);
    },
    async putIfAbsent(result: ProfileResult): Promise<boolean> {
      open();
      const r = validateProfileResult(result);
      return (await bucket.create(profileKvKey(r), r)) !== undefined;
    },
    async query(filter?: ProfileFilter): Promise<ProfileResult[]> {
      open();
      const f = validateProfileFilter(filter);
      const keys = await bucket.keys(keyTokens(f).join('.'));
      const results: ProfileResult[] = [];
      for (const key of keys) {
        // A key deleted between keys() and get() is simply skipped.
        const entry = await bucket.get(key);
        if (entry && matchesFilter(entry.value, f)) results.push(entry.value);
      }
      return results.sort(compareProfileKeys);
    },
    async delete(key: ProfileKey): Promise<boolean> {
      open();
      const k = profileKvKey(validateProfileKey(key));
      if ((await bucket.get(k)) === undefined) return false;
      await bucket.delete(k);
      return true;
    },
    async close(): Promise<void> {
      closed = true;
    },
  };
}
