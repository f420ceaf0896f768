import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { openDatabase, type Database } from '../../../src/db/client.js';
import { freshPgliteDir, openTestDatabase } from '../../support/databases.js';

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Sends the signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ChildProcess>();
// A failed test must not leave gateways behind holding ports and connections.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The real gateway process (`src/server.ts`), configured only by its environment, on a free port. */
export async function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = once(child, 'exit').then(() => void running.delete(child));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not listen within 30 s:\n${output}`)), 30_000);
    const look = () => {
      const line = output.split('\n').find((l) => l.includes('"budget-gateway listening"'));
      if (line) {
        clearTimeout(timer);
        child.stdout!.off('data', look);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    };
    child.stdout!.on('data', look);
    void exited.then(() => reject(new Error(`the gateway exited before listening:\n${output}`)));
  });
  return {
    url,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * A database for gateway processes: a fresh schema on TEST_DATABASE_URL (shared by every process
 * given `env`), else a PGlite folder, which one process at a time may open.
 */
export async function processDatabase(): Promise<{ env: Record<string, string>; open(): Promise<Database>; close(): Promise<void> }> {
  if (process.env.TEST_DATABASE_URL) {
    const test = await openTestDatabase('postgres');
    return {
      env: { DATABASE_URL: `${test.options.databaseUrl}?search_path=${test.options.searchPath}` },
      open: async () => test.database,
      close: () => test.close(),
    };
  }
  const dataDir = await freshPgliteDir(true);
  return { env: { DATA_DIR: dataDir }, open: () => openDatabase({ dataDir }), close: async () => rmSync(dirname(dataDir), { recursive: true, force: true }) };
}
