/** Picks the backend from configuration: NATS when a URL is given, else the in-process bus. */
import type { CommonBusOptions } from './bus.js';
import { createInProcessBus, type InProcessHub } from './in-process.js';
import { connectNatsBus, type NatsBusOptions } from './nats.js';
import type { EventBus } from './types.js';

export interface EventBusConfig extends CommonBusOptions, Omit<NatsBusOptions, 'url'> {
  /** NATS server URL(s). Absent or empty: the in-process bus (the embedded default). */
  readonly natsUrl?: string | readonly string[] | undefined;
  /** In-process only: share this hub (e.g. every embedded service of one process). */
  readonly hub?: InProcessHub | undefined;
}

export async function createEventBus(config: EventBusConfig = {}): Promise<EventBus> {
  const { natsUrl, hub, ...rest } = config;
  const urls = natsUrl === undefined ? [] : typeof natsUrl === 'string' ? [natsUrl] : [...natsUrl];
  const servers = urls.map((u) => u.trim()).filter((u) => u !== '');
  if (servers.length === 0) return createInProcessBus({ ...rest, hub });
  return connectNatsBus({ ...rest, url: servers });
}

/**
 * The bus a service was given, or one it opens from `config` and closes itself: the close is
 * registered on `cleanup` (a service's CleanupStack), so only what the service opened is closed.
 */
export async function givenOrOpenedBus(given: EventBus | undefined, config: EventBusConfig, cleanup: { defer(step: () => Promise<void> | void): void }): Promise<EventBus> {
  if (given) return given;
  const bus = await createEventBus(config);
  cleanup.defer(() => bus.close());
  return bus;
}
