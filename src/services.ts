import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { SpendStore } from './budget/spend-store.js';
import { firstPeriod } from './budget/period.js';
import { parseDuration } from './budget/duration.js';
import { usdToMicros } from './budget/money.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/client.js';
import { countSetAside } from './db/ledger.js';
import { migrateUp } from './db/migrate.js';
import { createKey, findActiveKey, hashKey } from './db/keys.js';
import { getTenant, upsertTenant } from './db/tenants.js';
import { BudgetGauges } from './guard/budget-gauges.js';
import { BudgetGuard } from './guard/budget-guard.js';
import { CrossingRecorder } from './guard/crossings.js';
import { LocalInvalidationBus, RedisInvalidationBus, type InvalidationBus } from './guard/invalidation.js';
import { LateCharges } from './guard/late-charges.js';
import { OwedReleases } from './guard/owed-releases.js';
import { PriceBook } from './guard/price-book.js';
import { Settlement } from './guard/settlement.js';
import { TenantDirectory } from './guard/tenant-directory.js';
import type { ReadinessCheck } from './http/health.js';
import { LedgerBatchWriter } from './ledger/batch-writer.js';
import { ledgerSink } from './ledger/ledger-sink.js';
import { LedgerConsumerThread } from './ledger/consumer-thread.js';
import { LedgerStreamConsumer, type StreamConsumerOptions } from './ledger/stream-consumer.js';
import { usageStreams } from './ledger/usage-stream.js';
import type { LedgerPipeline, LedgerSink } from './ledger/usage-event.js';
import { repeatedLogs, type Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { budgetResetJob } from './jobs/budget-reset.js';
import { outboxDelivery } from './jobs/outbox-delivery.js';
import { overrideExpiryJob } from './jobs/override-expiry.js';
import { Scheduler } from './jobs/scheduler.js';
import { litellmKeySink } from './notify/litellm-keys.js';
import type { Sink } from './notify/sink.js';
import { slackSink } from './notify/slack.js';
import { webhookSink } from './notify/webhook.js';
import { MemorySpendStore } from './store/memory.js';
import { RedisSpendStore } from './store/redis.js';
import { LEDGER_READER_REDIS, REQUEST_PATH_REDIS, openRedis } from './store/redis-connection.js';

/** Estimates for models nobody priced: conservative (gpt-4o's list price), so budgets err safe. */
const FALLBACK_PRICE = { inputPerMillion: 2.5, outputPerMillion: 10 };

export interface Services {
  readonly database: Database;
  readonly store: SpendStore;
  readonly directory: TenantDirectory;
  readonly invalidation: InvalidationBus;
  readonly guard: BudgetGuard;
  readonly settlement: Settlement;
  /** Scheduled jobs (resets, override expiry, outbox delivery); tests run them with `runNow`. */
  readonly scheduler: Scheduler;
  readonly readiness: readonly ReadinessCheck[];
  /** Which adapters run, for the start-up log. */
  readonly mode: { readonly database: Database['kind']; readonly store: 'redis' | 'in-process' };
  /** Flushes usage to the database and closes connections. */
  stop(): Promise<void>;
}

/**
 * Picks and connects the adapters: PostgreSQL or embedded PGlite, Redis or the in-process store,
 * and the matching ledger path. The only place that knows which implementations exist.
 */
export async function startServices(
  config: Config,
  metrics: Metrics,
  logger: Logger,
  now: () => number,
  /** An open database to use instead of opening one (tests share one); its owner closes it. */
  shared?: Database,
): Promise<Services> {
  const database = shared ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  // The first statement the database gets: a failure here says which database it was.
  const applied = await migrateUp(database).catch((err: unknown) => {
    const which = database.kind === 'postgres' ? 'PostgreSQL at DATABASE_URL' : `the embedded database in ${config.dataDir}`;
    throw new Error(`${which}: ${(err as Error).message}`, { cause: err });
  });
  if (applied.length > 0) logger.info({ applied }, 'database migrated');
  await seedTenants(database, config, now);
  // The database's owner sets its thread's priority: a shared one is the test's, not ours to change.
  if (shared === undefined) await backgroundDatabase(database, logger);

  const directory = new TenantDirectory(database.db, now);
  const sink: LedgerSink = ledgerSink(database, logger);
  const redis = config.redisUrl === undefined ? undefined : await connectRedis(config.redisUrl, logger);
  const ledger = redis ? redisLedger(redis, config, database, sink, logger) : memoryLedger(sink, logger, now);
  ledger.pipeline.start();
  ledger.direct?.start();
  const invalidation = redis
    ? RedisInvalidationBus.connect(redis, `${config.redisPrefix}invalidate`, directory, logger)
    : new LocalInvalidationBus(directory);

  const prices = new PriceBook(config.configFile.prices);
  const upstreamKey = config.litellmMasterKey ?? config.litellmApiKey;
  // Waited for once (it gives up within seconds), so the first requests are priced like the rest.
  await prices.refresh(config.litellmBaseUrl, upstreamKey, logger);
  const priceTimer = setInterval(() => void prices.refresh(config.litellmBaseUrl, upstreamKey, logger), config.budget.priceRefreshMs);
  priceTimer.unref();

  const gauges = new BudgetGauges(metrics);
  // Releases the store did not take wait for the settles owed to it (Settlement, made below).
  const owedReleases = redis ? new OwedReleases(ledger.store, logger, (): number => settlement.settlesOwed) : undefined;
  const crossings = new CrossingRecorder(database.db, logger);
  const guard = new BudgetGuard(ledger.store, database.db, prices, crossings, metrics, logger, now, () => directory.global(), {
    failMode: config.budgetFailMode,
    // Leases save a Redis round trip per request; an in-process store has none to save.
    leases: redis ? config.budget.leases : undefined,
    reservationTtlMs: config.budget.reservationTtlMs,
    defaultCompletionTokens: config.budget.defaultCompletionTokens,
    fallbackPrice: FALLBACK_PRICE,
    gauges,
    owedReleases,
  });
  const { seededFrom, lateCharge } = ledger.store;
  const late =
    seededFrom && lateCharge
      ? new LateCharges({ store: { seededFrom: seededFrom.bind(ledger.store), lateCharge: lateCharge.bind(ledger.store) }, db: database.db, seed: (b) => guard.seed(b), logger })
      : undefined;
  const settlement = new Settlement(ledger.store, guard, prices, metrics, logger, now, ledger.direct?.enqueue, late, owedReleases);
  ledger.store.onDataLost?.((othersBackByMs) => {
    guard.restoreAfterLoss(othersBackByMs).then(
      (restored) => logger.warn({ restored }, 'budget store came back empty: counters rebuilt from the ledger, reservations of requests in flight put back'),
      (err: unknown) => logger.error({ err: (err as Error).message }, 'budget store came back empty: could not put back the reservations of requests in flight'),
    );
  });
  // Requests still running keep their reservations past RESERVATION_TTL_MS.
  const renewTimer = setInterval(() => {
    guard.renewReservations().catch((err: unknown) =>
      repeatedLogs(logger).warn({ err: (err as Error).message }, 'could not renew the reservations of requests still running'),
    );
  }, config.budget.reservationTtlMs / 3);
  renewTimer.unref();
  // A connection that drops may have lost a Redis without persistence; one we close ourselves
  // (shutdown) lost nothing, and nothing would be left to write its recent usage anyway.
  const storeLost = (): void => settlement.storeLost();
  redis?.on('close', storeLost);
  metrics.countLedgerPendingWith(async () => (await ledger.pipeline.pending()) + ((await ledger.direct?.pending()) ?? 0));
  metrics.countLedgerSetAsideWith(() => countSetAside(database.db));
  metrics.refreshBudgetGaugesWith(() =>
    gauges.refresh({ tenant: (id) => directory.tenant(id), global: () => directory.global(), store: ledger.store, db: database.db, now }),
  );

  const scheduler = new Scheduler(database.db, metrics, logger, now);
  const sinks = notificationSinks(config, database, logger);
  if (sinks.length > 0) scheduler.add(outboxDelivery({ db: database.db, sinks, logger }));
  const litellmSync = config.litellmMasterKey !== undefined;
  scheduler.add(budgetResetJob({ db: database.db, store: ledger.store, logger, litellmSync }, config.resetCron));
  scheduler.add(overrideExpiryJob({ db: database.db, invalidation, logger, litellmSync }, config.overrideExpiryCron));
  scheduler.start();

  const readiness: ReadinessCheck[] = [
    { name: 'database', check: () => database.ping() },
    ...(redis ? [{ name: 'store', check: async () => void (await redis.ping()) }] : []),
  ];

  return {
    database,
    store: ledger.store,
    directory,
    invalidation,
    guard,
    settlement,
    scheduler,
    readiness,
    mode: { database: database.kind, store: redis ? 'redis' : 'in-process' },
    async stop() {
      clearInterval(priceTimer);
      clearInterval(renewTimer);
      await crossings.stop();
      await scheduler.stop();
      settlement.stop();
      await owedReleases?.stop();
      await settlement.flush();
      guard.retireLeases();
      await owedReleases?.flush();
      await ledger.pipeline.stop();
      await ledger.direct?.stop();
      // After the ledger's last writes: late charges whose usage they wrote are settled.
      await late?.stop();
      await invalidation.close();
      redis?.off('close', storeLost);
      await ledger.store.close();
      if (!shared) await database.close();
    },
  };
}

interface LedgerWiring {
  readonly store: SpendStore;
  readonly pipeline: LedgerPipeline;
  /** Redis mode: the database path for usage the store could not take. */
  readonly direct: LedgerBatchWriter | undefined;
}

function redisLedger(redis: Redis, config: Config, database: Database, sink: LedgerSink, logger: Logger): LedgerWiring {
  const prefix = config.redisPrefix;
  const streams = usageStreams(prefix);
  const options: StreamConsumerOptions = {
    streams,
    group: 'ledger',
    consumer: `${hostname()}:${process.pid}`,
    // About 2,000 rows per database transaction, or what gathered within a second; a first event
    // after a quiet spell goes at once (the read blocks until one comes).
    batchEvents: 2_000,
    blockMs: 1_000,
    claimIdleMs: config.ledgerClaimIdleMs,
    lingerMs: 1_000,
  };
  return {
    store: new RedisSpendStore(redis, { prefix, usage: streams }),
    pipeline: ledgerConsumer(config, database, options, sink, logger),
    direct: new LedgerBatchWriter(sink, logger),
  };
}

/**
 * With PostgreSQL the consumer runs in a thread of its own, with its own connections, off the
 * request thread. PGlite lives in the thread that opened it (its work is already off the request
 * thread), so there the consumer runs beside the requests and writes through it.
 */
function ledgerConsumer(config: Config, database: Database, options: StreamConsumerOptions, sink: LedgerSink, logger: Logger): LedgerPipeline {
  if (database.connection !== undefined) {
    return new LedgerConsumerThread({ redisUrl: config.redisUrl!, database: database.connection, consumer: options, logLevel: config.logLevel }, logger);
  }
  const reader = openRedis(config.redisUrl!, LEDGER_READER_REDIS);
  reader.on('error', () => {}); // the main connection already reports Redis being away
  return new LedgerStreamConsumer(reader, sink, logger, options);
}

function memoryLedger(sink: LedgerSink, logger: Logger, now: () => number): LedgerWiring {
  const writer = new LedgerBatchWriter(sink, logger);
  return { store: new MemorySpendStore(writer.enqueue, now), pipeline: writer, direct: undefined };
}

/** The request path's connection (`REQUEST_PATH_REDIS`: fails fast, keeps reconnecting); says when Redis goes and comes back. */
async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = openRedis(url, REQUEST_PATH_REDIS);
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger.error({ err: err.message }, 'redis unreachable');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis reachable again');
    down = false;
  });
  await redis.connect().catch((err: Error) => logger.error({ err: err.message }, 'redis unreachable at start; retrying'));
  return redis;
}

/**
 * Where outbox rows go: NOTIFY_WEBHOOK_URL, NOTIFY_SLACK_WEBHOOK_URL, and LiteLLM's key API when
 * LITELLM_MASTER_KEY is set. With none, the outbox only fills (the rows wait for a sink).
 */
function notificationSinks(config: Config, database: Database, logger: Logger): Sink[] {
  const sinks: Sink[] = [];
  if (config.notifyWebhookUrl !== undefined) {
    if (config.notifyWebhookSecret === undefined) logger.warn('NOTIFY_WEBHOOK_SECRET is not set: webhook notifications go out unsigned');
    sinks.push(webhookSink(config.notifyWebhookUrl, config.notifyWebhookSecret));
  }
  if (config.notifySlackWebhookUrl !== undefined) sinks.push(slackSink(config.notifySlackWebhookUrl));
  if (config.litellmMasterKey !== undefined) {
    sinks.push(litellmKeySink({ baseUrl: config.litellmBaseUrl, masterKey: config.litellmMasterKey, db: database.db, logger }));
  }
  return sinks;
}

/**
 * CONFIG_FILE tenants are created when missing (the database is the truth once they exist), and
 * the keys listed for them registered unless they are registered already.
 */
async function seedTenants(database: Database, config: Config, now: () => number): Promise<void> {
  const defaults = config.configFile.tenant_defaults;
  for (const t of config.configFile.tenants) {
    if (!(await getTenant(database.db, t.tenant_id))) {
      const duration = t.budget_duration ?? defaults.budget_duration ?? '30d';
      const period = firstPeriod(now(), parseDuration(duration), t.budget_reset_at ? Date.parse(t.budget_reset_at) : undefined);
      await upsertTenant(database.db, {
        tenantId: t.tenant_id,
        name: t.name ?? null,
        maxBudgetMicros: usdToMicros(t.max_budget),
        alertThreshold: t.alert_threshold ?? defaults.alert_threshold ?? 80,
        graceThreshold: t.grace_threshold ?? defaults.grace_threshold ?? 110,
        budgetDuration: duration,
        firstPeriod: { startedAt: new Date(period.startMs), resetAt: new Date(period.endMs) },
      });
    }
    for (const key of t.keys ?? []) {
      const owner = await findActiveKey(database.db, hashKey(key));
      if (owner && owner.tenantId !== t.tenant_id) {
        throw new Error(`CONFIG_FILE: a key listed for tenant ${t.tenant_id} already belongs to tenant ${owner.tenantId}`);
      }
      if (!owner) await createKey(database.db, t.tenant_id, { key });
    }
  }
}

/**
 * The embedded database's thread yields to request handling (the ledger's writes can wait a
 * moment; a request should not). Where the system does not allow it, it keeps normal priority.
 */
async function backgroundDatabase(database: Database, logger: Logger): Promise<void> {
  if (database.runAsBackground === undefined) return;
  try {
    await database.runAsBackground();
    logger.debug('embedded database thread at idle scheduling priority');
  } catch (err) {
    logger.info({ err: (err as Error).message }, 'embedded database thread keeps normal scheduling priority');
  }
}
