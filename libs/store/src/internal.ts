/**
 * @fulcrum/store/internal — the public face plus the checks the profiler service runs on what it
 * is given (keys, filters, results), the filter matcher, and the KV key layout.
 */
export * from './index.js';
export { validateProfileKey, validateProfileFilter, validateProfileResult, matchesFilter } from './profile-store.js';
export { profileKvKey } from './kv.js';
