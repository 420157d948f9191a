/** Key-value bucket names and keys, checked the way JetStream KV checks them (both backends use this). */
import { ValidationError, describeValue } from '@fulcrum/core/internal';

const BUCKET_RE = /^[-_A-Za-z0-9]{1,64}$/;
const KEY_RE = /^[-/_=.A-Za-z0-9]+$/;

export function validateBucketName(bucket: unknown, field = 'bucket'): string {
  if (typeof bucket !== 'string' || !BUCKET_RE.test(bucket)) {
    throw new ValidationError(field, `must be 1–64 characters of letters, digits, '-' or '_', got ${describeValue(bucket)}`);
  }
  return bucket;
}

/** A concrete key: `[-/_=.A-Za-z0-9]+`, `.`-separated tokens, none empty. */
export function validateKey(key: unknown, field = 'key'): string {
  if (typeof key !== 'string' || key.length > 1024 || !KEY_RE.test(key) || key.split('.').some((t) => t === '')) {
    throw new ValidationError(
      field,
      `must be '.'-separated tokens of letters, digits, '-', '/', '_' or '=' (no empty token, no leading or trailing '.'; see encodeKeyToken), got ${describeValue(key)}`,
    );
  }
  return key;
}

/** A key filter: like a key, but a token may be `*` (one token) and the last may be `>` (the rest). */
export function validateKeyFilter(filter: unknown, field = 'key'): string {
  if (typeof filter !== 'string' || filter.length === 0) throw new ValidationError(field, `must be a key or key filter, got ${describeValue(filter)}`);
  const tokens = filter.split('.');
  tokens.forEach((t, i) => {
    if (t === '*' || (t === '>' && i === tokens.length - 1)) return;
    if (t === '' || !KEY_RE.test(t)) {
      throw new ValidationError(field, `must be '.'-separated key tokens, '*' or a final '>', got ${describeValue(filter)}`);
    }
  });
  return filter;
}

/**
 * Makes any text one safe key token: letters, digits, `-` and `_` stay, everything else
 * (including `.`, `,` and `=`) becomes `=XX` per UTF-8 byte. Reversible with `decodeKeyToken`.
 * E.g. `12,2201.6` → `12=2C2201=2E6`.
 */
export function encodeKeyToken(text: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(text)) {
    const ch = String.fromCharCode(byte);
    out += /[-_A-Za-z0-9]/.test(ch) ? ch : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out === '') throw new ValidationError('key', 'cannot encode an empty string as a key token');
  return out;
}

export function decodeKeyToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const ch = token[i]!;
    if (ch === '=') {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw new ValidationError('key', `bad escape at ${i} in ${describeValue(token)}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(ch.charCodeAt(0));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
