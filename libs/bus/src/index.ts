export {
  SUBJECT_PREFIX,
  EVENT_KINDS,
  validateToken,
  eventSubject,
  arrivalsRateSubject,
  profileCompletedSubject,
  planAppliedSubject,
  powerSubject,
  activitySubject,
  executorStatusSubject,
  inferSubject,
  eventFilter,
  inferFilter,
  parseSubject,
  subjectMatches,
} from './subjects.js';
export type { EventKind, EventSubject, InferSubject, ParsedSubject, EventFilter, InferFilter } from './subjects.js';
export {
  INFERENCE_ERROR_CODES,
  ActivityState,
  MalformedEventError,
  isInferenceError,
  validateEvent,
  encodeEvent,
  decodeEvent,
  encodeInferenceRequest,
  decodeInferenceRequest,
  encodeInferenceReply,
  decodeInferenceReply,
} from './events.js';
export type {
  ArrivalRatesEvent,
  StreamArrivalRate,
  ProfileResult,
  PlanAppliedEvent,
  PlannedStream,
  PowerTelemetryEvent,
  RailPower,
  ExecutorStatusEvent,
  ExecutorActivity,
  ExecutorActivityEvent,
  StreamTelemetry,
  BusEvents,
  InferenceRequest,
  InferenceResult,
  InferenceErrorCode,
  InferenceErrorReply,
  InferenceReply,
} from './events.js';
export { BUS_ERROR_CODES, BusError, isBusError } from './errors.js';
export type { BusErrorCode } from './errors.js';
export { validateBucketName, validateKey, validateKeyFilter, encodeKeyToken, decodeKeyToken } from './keys.js';
export { DEFAULT_REQUEST_TIMEOUT_MS, stderrBusLogger } from './bus.js';
export type { CommonBusOptions } from './bus.js';
export { InProcessHub, createInProcessBus } from './in-process.js';
export { connectNatsBus, profileStreamName } from './nats.js';
export type { NatsBusOptions } from './nats.js';
export { createEventBus, givenOrOpenedBus } from './config.js';
export type { EventBusConfig } from './config.js';
export type {
  BusBackend,
  BusStatus,
  BusLogger,
  PublishOptions,
  PublishAck,
  BusMessage,
  EventHandler,
  SubscriptionStats,
  Subscription,
  EventSubscription,
  SubscribeOptions,
  ReplayOptions,
  RequestOptions,
  InferenceHandler,
  ServeOptions,
  ServiceStats,
  InferenceService,
  KeyValueOptions,
  KeyValueEntry,
  KeyValueChange,
  WatchOptions,
  KeyValueBucket,
  EventBus,
} from './types.js';
