/**
 * @fulcrum/bus — Fulcrum's events and inference requests, over NATS (JetStream for what must not
 * be lost) or in process, with one API.
 *
 * Main entry points:
 * - `connectNatsBus({ url, token? })`, `createInProcessBus()`, or `createEventBus({ natsUrl? })`
 *   (NATS when a URL is given, else in process) give an `EventBus`: `publish`, `subscribe`,
 *   `request` (inference), `serve` (answer inference), `followBoard` (a board's durable events,
 *   mirrored across JetStream domains), `replayProfiles`, `keyValue`, `close`.
 * - Subjects: `powerSubject(device)`, `activitySubject`, `executorStatusSubject`,
 *   `planAppliedSubject`, `arrivalsRateSubject`, `profileCompletedSubject`,
 *   `inferSubject(device, stream)`; `eventFilter(kind, device?)` / `inferFilter` to listen on
 *   one device or all.
 * - The payload types, generated from `proto/fulcrum/events/v1/events.proto` (`PowerTelemetryEvent`,
 *   `ExecutorStatusEvent`, `PlanAppliedEvent`, `InferenceRequest`, `InferenceReply`, …), and
 *   `isErrorReply(reply)`.
 * - Errors: `BusError` (`code`: timeout, no-responders, unavailable, closed, …) and
 *   `MalformedEventError` (a payload that breaks the contract, naming the field).
 *
 * The wire codecs, key and token validators, the in-process hub and the helpers the services
 * share are in `@fulcrum/bus/internal`; a test NATS server is in `@fulcrum/bus/testing`.
 */
export {
  arrivalsRateSubject,
  profileCompletedSubject,
  planAppliedSubject,
  powerSubject,
  activitySubject,
  executorStatusSubject,
  boardAnnounceSubject,
  boardStreamName,
  DURABLE_KINDS,
  inferSubject,
  eventFilter,
  inferFilter,
} from './subjects.js';
export type { EventKind, DurableKind, EventSubject, InferSubject, EventFilter, InferFilter } from './subjects.js';
export { INFERENCE_ERROR_CODES, MAX_REQUEST_ID_CHARS, ActivityState, MalformedEventError, isErrorReply } from './events.js';
export type {
  ArrivalRatesEvent,
  StreamArrivalRate,
  ProfileResult,
  PlanAppliedEvent,
  PlannedStream,
  PowerTelemetryEvent,
  RailPower,
  ExecutorStatusEvent,
  BoardAnnounceEvent,
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
export { createInProcessBus } from './in-process.js';
export { connectNatsBus } from './nats.js';
export type { NatsBusOptions } from './nats.js';
export { createEventBus } from './config.js';
export type { EventBusConfig } from './config.js';
export type {
  BusBackend,
  BusStatus,
  BusLogger,
  PublishOptions,
  PublishAck,
  BusMessage,
  BoardEventMessage,
  FollowBoardOptions,
  JetStreamInfo,
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
