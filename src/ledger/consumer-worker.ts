// The ledger consumer's thread (see consumer-thread.ts): its own Redis and PostgreSQL
// connections, the consumer loop, and answers to the thread that started it.

import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../db/client.js';
import { createLogger } from '../logger.js';
import { LEDGER_READER_REDIS, openRedis } from '../store/redis-connection.js';
import { kernelThreadId } from '../threads.js';
import type { ConsumerThreadSettings, FromConsumerThread, ToConsumerThread } from './consumer-thread.js';
import { ledgerSink } from './ledger-sink.js';
import { LedgerStreamConsumer } from './stream-consumer.js';

const settings = workerData as ConsumerThreadSettings;
const port = parentPort!;
const post = (message: FromConsumerThread): void => port.postMessage(message);

const logger = createLogger(settings.logLevel).child({ thread: 'ledger' });
const redis = openRedis(settings.redisUrl, LEDGER_READER_REDIS);
redis.on('error', () => {}); // the request path's connection already reports Redis being away
// One statement at a time: the consumer writes a batch, then reads the next.
const database = await openDatabase({ databaseUrl: settings.database.url, searchPath: settings.database.searchPath, dataDir: '', poolSize: 1 });
const consumer = new LedgerStreamConsumer(redis, ledgerSink(database, logger), logger, settings.consumer);

port.on('message', (message: ToConsumerThread) => {
  switch (message.op) {
    case 'pending':
      void consumer.pending().then((pending) => post({ op: 'pending', id: message.id, pending }));
      return;
    case 'stop':
      void consumer
        .stop()
        .then(() => database.close())
        .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'ledger consumer thread: stopping failed'))
        .finally(() => post({ op: 'stopped' }));
      return;
  }
});
consumer.start();
post({ op: 'ready', tid: kernelThreadId() });
