// CLI for the simulated LiteLLM: `node --import tsx src/sim/main.ts`, configured via SIM_* env vars.

import { type SimOptions, startSimLiteLLM } from './litellm.js';

class EnvError extends Error {}

function envNumber(name: string, fallback: number, valid: (n: number) => boolean, expected: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || !valid(n)) throw new EnvError(`invalid ${name}=${JSON.stringify(raw)}: expected ${expected}`);
  return n;
}

function envFlag(name: string, fallback: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new EnvError(`invalid ${name}=${JSON.stringify(raw)}: expected 1 or 0`);
}

const nonNegative = (n: number): boolean => n >= 0;
const rate = (n: number): boolean => n >= 0 && n <= 1;

function readEnv(): Partial<SimOptions> & { port: number; host: string } {
  return {
    port: envNumber('SIM_PORT', 4000, (n) => Number.isInteger(n) && n >= 0 && n <= 65_535, 'an integer port 0-65535'),
    host: process.env.SIM_HOST || '127.0.0.1',
    latencyMs: envNumber('SIM_LATENCY_MS', 0, nonNegative, 'a number >= 0'),
    chunkDelayMs: envNumber('SIM_CHUNK_DELAY_MS', 0, nonNegative, 'a number >= 0'),
    chunks: envNumber('SIM_CHUNKS', 5, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
    errorRate: envNumber('SIM_ERROR_RATE', 0, rate, 'a number between 0 and 1'),
    disconnectRate: envNumber('SIM_DISCONNECT_RATE', 0, rate, 'a number between 0 and 1'),
    streamUsageCost: envFlag('SIM_STREAM_USAGE_COST', false),
    // The key management endpoints (/key/update, /key/{key}/reset_spend) accept only this key.
    masterKey: process.env.SIM_MASTER_KEY || undefined,
  };
}

async function main(): Promise<void> {
  let config: ReturnType<typeof readEnv>;
  try {
    config = readEnv();
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
  const sim = await startSimLiteLLM(config);
  console.log(`simulated LiteLLM listening on ${sim.url}`);
  const shutdown = (): void => {
    sim.close().then(() => process.exit(0), (err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

await main();
