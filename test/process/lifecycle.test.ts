import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSimLiteLLM, type SimLiteLLM } from '../../src/sim/litellm.js';
import { openDatabase } from '../../src/db/client.js';
import { freshPgliteDir } from '../support/databases.js';
import { closedPort, createTestTenant } from '../support/gateway.js';

/** The gateway as an operator runs it: its own process, configured by the environment. */
async function spawnGateway(env: Record<string, string>, entry = 'src/server.ts'): Promise<{ child: ChildProcess; key: string }> {
  // Its own embedded database, copied from a migrated template (a new one takes seconds), with a
  // tenant in it: a PGlite folder has one owner, so it is set up before the gateway opens it.
  const dataDir = await freshPgliteDir(true);
  const database = await openDatabase({ dataDir });
  const { key } = await createTestTenant(database.db);
  await database.close();
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, key };
}

/** Resolves with the gateway's URL once its "listening" log line appears. */
async function listeningUrl(child: ChildProcess): Promise<string> {
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'budget-gateway listening') return entry.url!;
  }
  throw new Error('the gateway exited before listening');
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** Each thread's scheduling policy, field 41 of /proc/<pid>/task/<tid>/stat. */
function threadPolicies(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
  });
}

describe('start-up with a bad configuration', () => {
  it('stops with exit code 1 and one line naming the variable', async () => {
    const { child } = await spawnGateway({ PORT: 'eighty' });
    const { code, stderr } = await exitOf(child);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual(['budget-gateway: invalid configuration: PORT: must be an integer from 0 to 65535 (got "eighty")']);
  });

  it('stops with exit code 1 and one line naming the database it could not reach', async () => {
    const port = await closedPort();
    const { child } = await spawnGateway({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test` });
    const { code, stderr } = await exitOf(child);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([`budget-gateway: failed to start: PostgreSQL at DATABASE_URL: connect ECONNREFUSED 127.0.0.1:${port}`]);
  });

  it('stops with exit code 1 and one line naming HOST or PORT when it cannot listen there', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      for (const [env, line] of [
        // An address of TEST-NET-1 (RFC 5737), which is no interface of this machine.
        [{ HOST: '192.0.2.1' }, /^budget-gateway: failed to start: HOST: cannot listen on 192\.0\.2\.1:0: listen EADDRNOTAVAIL/],
        [{ PORT: String(port) }, new RegExp(`^budget-gateway: failed to start: PORT: cannot listen on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE`)],
      ] as const) {
        const { child } = await spawnGateway({ ADMIN_API_KEY: 'lifecycle-admin-key-0123', ...env });
        const { code, stderr } = await exitOf(child);
        expect(code).toBe(1);
        const lines = stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(line);
      }
    } finally {
      taken.close();
    }
    // Two gateway processes, each starting its embedded database before it tries to listen.
  }, 60_000);
});

describe('graceful shutdown', () => {
  let sim: SimLiteLLM;
  beforeAll(async () => {
    sim = await startSimLiteLLM();
  });
  afterAll(() => sim.close());

  async function startStream(url: string, apiKey: string, chunks: number) {
    const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'drain me' }], stream: true },
      { headers: { 'x-sim-chunk-delay-ms': '80', 'x-sim-chunks': String(chunks) } },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next(); // the stream is under way
    return iterator;
  }

  it('on SIGTERM stops accepting, lets the in-flight stream finish, then exits 0', async () => {
    const { child, key } = await spawnGateway({ LITELLM_BASE_URL: sim.url, SHUTDOWN_DRAIN_MS: '10000' });
    const exited = exitOf(child);
    const url = await listeningUrl(child);
    const iterator = await startStream(url, key, 8);

    child.kill('SIGTERM');
    let rest = 0;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest++;
    expect(rest).toBe(9); // 8 content chunks in all, the finish chunk, minus the one read before SIGTERM

    expect((await exited).code).toBe(0);
    await expect(request(`${url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it("runs the embedded database's thread at idle scheduling priority, and only that thread", async () => {
    const { child, key } = await spawnGateway({ LITELLM_BASE_URL: sim.url });
    const exited = exitOf(child);
    const url = await listeningUrl(child);
    const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const policies = threadPolicies(child.pid!);
    expect(policies.filter((p) => p === SCHED_IDLE)).toHaveLength(1);
    expect(policies.filter((p) => p !== SCHED_IDLE).every((p) => p === SCHED_OTHER)).toBe(true);
    child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });

  it('cuts what is still running when the drain timeout passes, and still exits 0', async () => {
    const { child, key } = await spawnGateway({ LITELLM_BASE_URL: sim.url, SHUTDOWN_DRAIN_MS: '200' });
    const exited = exitOf(child);
    const url = await listeningUrl(child);
    const iterator = await startStream(url, key, 500); // 40 s of stream: far beyond the drain timeout

    const aborted = once(sim.events, 'aborted');
    child.kill('SIGTERM');
    const drain = async () => {
      for (let next = await iterator.next(); !next.done; next = await iterator.next());
    };
    await expect(drain()).rejects.toThrow();
    expect((await exited).code).toBe(0);
    await aborted; // the upstream call was cancelled, not left running
  });
});

describe('npm run demo', () => {
  it('prints a curl line that works against the gateway in front of the simulated LiteLLM', async () => {
    const { child } = await spawnGateway({}, 'src/demo.ts');
    const exited = exitOf(child);
    let curl: string | undefined;
    for await (const line of createInterface({ input: child.stdout! })) {
      if (line.trim().startsWith('curl -s http')) {
        curl = line.trim();
        break;
      }
    }
    expect(curl).toBeDefined();
    const { stdout } = await promisify(execFile)('sh', ['-c', curl!]);
    expect(JSON.parse(stdout)).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: expect.any(String) } }] });
    child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });
});

describe('the admin key', () => {
  it('is generated when ADMIN_API_KEY is unset, printed once on stderr (never in the JSON logs), and works', async () => {
    const sim = await startSimLiteLLM();
    try {
      const { child } = await spawnGateway({ LITELLM_BASE_URL: sim.url });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const logs: string[] = [];
      child.stdout!.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
      const exited = once(child, 'exit');
      const url = await vi.waitFor(
        () => {
          const line = logs.join('').split('\n').find((l) => l.includes('budget-gateway listening'));
          if (!line) throw new Error('not listening yet');
          return (JSON.parse(line) as { url: string }).url;
        },
        { timeout: 20_000, interval: 50 },
      );
      const printed = stderr.match(/the admin key for this process is: (\S+)/g) ?? [];
      expect(printed).toHaveLength(1);
      const adminKey = printed[0]!.split(': ')[1]!;

      const authorized = await request(`${url}/admin/tenants`, { headers: { authorization: `Bearer ${adminKey}` } });
      expect(authorized.statusCode).toBe(200);
      await authorized.body.dump();
      const refused = await request(`${url}/admin/tenants`, { headers: { authorization: 'Bearer not-the-key-at-all' } });
      expect(refused.statusCode).toBe(401);
      await refused.body.dump();

      child.kill('SIGTERM');
      await exited;
      expect(logs.join('')).not.toContain(adminKey);
    } finally {
      await sim.close();
    }
  });
});
