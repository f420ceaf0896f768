import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { TenantDirectory } from './tenant-directory.js';

/** What changed, so every replica drops what it cached about it. */
export type Invalidation =
  | { readonly tenantId: string }
  | { readonly keyHash: string }
  | { readonly global: true }
  | { readonly all: true };

export interface InvalidationBus {
  publish(change: Invalidation): Promise<void>;
  close(): Promise<void>;
}

function apply(directory: TenantDirectory, change: Invalidation): void {
  if ('tenantId' in change) directory.forgetTenant(change.tenantId);
  else if ('keyHash' in change) directory.forgetKey(change.keyHash);
  else if ('global' in change) directory.forgetGlobal();
  else directory.forgetAll();
}

/** One replica: an admin change invalidates the cache directly. */
export class LocalInvalidationBus implements InvalidationBus {
  constructor(private readonly directory: TenantDirectory) {}

  async publish(change: Invalidation): Promise<void> {
    apply(this.directory, change);
  }

  async close(): Promise<void> {}
}

/**
 * A fleet: changes go out on a Redis channel and every replica applies them when they arrive; the
 * publishing replica applies them before publishing, so the admin call's own answer already holds. A replica that loses its subscription drops its whole cache on reconnecting,
 * since it may have missed messages meanwhile.
 */
export class RedisInvalidationBus implements InvalidationBus {
  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
    private readonly directory: TenantDirectory,
  ) {}

  static connect(publisher: Redis, channel: string, directory: TenantDirectory, logger: Logger): RedisInvalidationBus {
    const subscriber = publisher.duplicate({ lazyConnect: false, enableOfflineQueue: true });
    subscriber.on('error', () => {}); // the main connection already reports Redis being away
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      try {
        apply(directory, JSON.parse(message) as Invalidation);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'ignored a malformed cache invalidation');
      }
    });
    let subscribedOnce = false;
    subscriber.on('ready', () => {
      if (subscribedOnce) directory.forgetAll();
      subscribedOnce = true;
    });
    // Not awaited: with Redis away at start the gateway still starts; ioredis subscribes once
    // it connects, and resubscribes after every reconnect.
    subscriber.subscribe(channel).catch((err: Error) => logger.warn({ err: err.message }, 'cache invalidation: subscribe failed'));
    return new RedisInvalidationBus(publisher, subscriber, channel, directory);
  }

  async publish(change: Invalidation): Promise<void> {
    apply(this.directory, change);
    await this.publisher.publish(this.channel, JSON.stringify(change));
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
  }
}
