import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startGateway } from './gateway.js';
import { createLogger } from './logger.js';

/** The process: read configuration once, start, and shut down gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`budget-gateway: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
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
}

main().catch((err: unknown) => {
  process.stderr.write(`budget-gateway: failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
