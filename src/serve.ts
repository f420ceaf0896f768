import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startGateway } from './gateway.js';
import { tuneGarbageCollection } from './gc-tuning.js';
import { createLogger } from './logger.js';

/**
 * The gateway process, whichever way it is started (`npm start`, the container's CMD,
 * `budget-gateway serve`): read the configuration once, start, and shut down gracefully on
 * SIGTERM/SIGINT. A failed start ends the process with one line on stderr and exit code 1.
 */
export async function serve(): Promise<void> {
  tuneGarbageCollection();
  try {
    const config = processConfig();
    const logger = createLogger(config.logLevel);
    const gateway = await startGateway(config, logger);

    let stopping = false;
    const stop = async (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'signal received');
      await gateway.shutdown();
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  } catch (err) {
    process.stderr.write(`budget-gateway: failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

/**
 * The environment (plus `.env` when present), validated once (CONTRACT section 1): an invalid
 * value ends the process with one line naming the variable, exit code 1.
 */
export function processConfig(): Config {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`budget-gateway: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
}
