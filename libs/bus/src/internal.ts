/**
 * @fulcrum/bus/internal — the public face plus what the other Fulcrum packages and the tests
 * share: the subject grammar, the wire codecs, key and token validators, the in-process hub and
 * `givenOrOpenedBus` (use the given bus, or open one and register its close).
 */
export * from './index.js';
export { SUBJECT_PREFIX, EVENT_KINDS, validateToken, eventSubject, parseSubject, subjectMatches } from './subjects.js';
export type { ParsedSubject } from './subjects.js';
export { validateEvent, encodeEvent, decodeEvent, encodeInferenceRequest, decodeInferenceRequest, encodeInferenceReply, decodeInferenceReply } from './events.js';
export { validateBucketName, validateKey, validateKeyFilter, encodeKeyToken, decodeKeyToken } from './keys.js';
export { DEFAULT_REQUEST_TIMEOUT_MS, stderrBusLogger } from './bus.js';
export type { CommonBusOptions } from './bus.js';
export { InProcessHub } from './in-process.js';
export { BOARD_STREAM_LIMITS } from './nats.js';
export { DURABLE_KINDS, isDurableKind, boardStreamName, boardStreamSubjects } from './subjects.js';
export type { DurableKind } from './subjects.js';
export { givenOrOpenedBus } from './config.js';
