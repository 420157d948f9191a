/**
 * The helper's protocol: JSON lines over a local Unix socket. One request per line, one response
 * per line, matched by `id`. Only these operations exist; the only one that writes is `set`, and
 * it takes a whole power mode that the helper checks against the grid it discovered itself, so a
 * client can never name a file or a raw value.
 *
 *   → {"id":1,"op":"hello"}
 *   ← {"id":1,"ok":true,"result":{"protocol":1,"board":"orin-agx","pid":1234}}
 *   → {"id":2,"op":"set","mode":{"cores":8,"cpuMhz":1497.6,"gpuMhz":828.75,"emcMhz":3199}}
 *   ← {"id":2,"ok":true,"result":{"mode":{…},"previousMode":{…},"switchMs":3.1,"writes":[…]}}
 *   ← {"id":3,"ok":false,"error":{"code":"INVALID_ARGUMENT","field":"mode.gpuMhz","message":"…"}}
 *
 * Operations: `hello`, `describe` (board and grid), `read` (knobs now), `set` (switch), `restore`
 * (put back the state saved before the first switch), `saved` (is a state saved?), `hold` (restore
 * when this connection closes: a controller that dies takes its modes with it).
 */
import { POWER_MODE_KNOBS, type PowerMode } from '@fulcrum/core';

export const HELPER_PROTOCOL_VERSION = 1;
/** Longest request line accepted; a client that sends more is cut off. */
export const MAX_REQUEST_BYTES = 16 * 1024;

export const HELPER_OPS = ['hello', 'describe', 'read', 'set', 'restore', 'saved', 'hold'] as const;
export type HelperOp = (typeof HELPER_OPS)[number];

export type HelperRequest =
  | { readonly id: number; readonly op: Exclude<HelperOp, 'set'> }
  | { readonly id: number; readonly op: 'set'; readonly mode: PowerMode };

export type HelperErrorCode =
  /** Not a request of this protocol (malformed JSON, unknown op, extra fields). */
  | 'BAD_REQUEST'
  /** A mode off the board's grid. */
  | 'INVALID_ARGUMENT'
  /** A mode over the helper's hard power cap. */
  | 'FAILED_PRECONDITION'
  /** The helper itself may not write (not root, locked-down file). */
  | 'PERMISSION_DENIED'
  /** The kernel refused a write; the switch was undone. */
  | 'WRITE_REJECTED'
  /** The writes went through but a knob read back differently. */
  | 'MISMATCH'
  | 'INTERNAL';

export interface HelperErrorBody {
  readonly code: HelperErrorCode;
  readonly message: string;
  /** For INVALID_ARGUMENT: the field (e.g. `mode.gpuMhz`); `reason` is the message without it. */
  readonly field?: string;
  readonly reason?: string;
  readonly details?: unknown;
}

export type HelperResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: HelperErrorBody };

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    message: string,
    readonly id: number | null = null,
  ) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and strictly checks one request line; throws ProtocolError naming what is wrong. */
export function parseRequest(line: string): HelperRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ProtocolError('request is not JSON');
  }
  if (!isRecord(value)) throw new ProtocolError('request must be a JSON object');
  const id = value['id'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new ProtocolError('request needs an integer "id" ≥ 0');
  const op = value['op'];
  if (typeof op !== 'string' || !(HELPER_OPS as readonly string[]).includes(op)) {
    throw new ProtocolError(`unknown op ${JSON.stringify(op)}; known: ${HELPER_OPS.join(', ')}`, id);
  }
  const allowed = op === 'set' ? ['id', 'op', 'mode'] : ['id', 'op'];
  const extra = Object.keys(value).filter((k) => !allowed.includes(k));
  if (extra.length) throw new ProtocolError(`unexpected field(s) ${extra.join(', ')} for op ${op}`, id);
  if (op !== 'set') return { id, op: op as Exclude<HelperOp, 'set'> };
  const mode = value['mode'];
  if (!isRecord(mode)) throw new ProtocolError('op set needs "mode": {cores, cpuMhz, gpuMhz, emcMhz}', id);
  const modeExtra = Object.keys(mode).filter((k) => !(POWER_MODE_KNOBS as readonly string[]).includes(k));
  if (modeExtra.length) throw new ProtocolError(`unexpected mode field(s) ${modeExtra.join(', ')}`, id);
  for (const knob of POWER_MODE_KNOBS) {
    const v = mode[knob];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProtocolError(`mode.${knob} must be a number`, id);
  }
  return { id, op: 'set', mode: { cores: mode['cores'] as number, cpuMhz: mode['cpuMhz'] as number, gpuMhz: mode['gpuMhz'] as number, emcMhz: mode['emcMhz'] as number } };
}
