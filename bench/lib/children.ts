// Child processes for the benchmark: free loopback ports, start-and-wait-for-ready, and stopping
// them again on every way out (normal end, error, SIGINT/SIGTERM, process.exit).

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Client } from 'undici';

/** Asks the kernel for a free port by binding port 0 on loopback, then releases it. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not read the bound port');
  return address.port;
}

export interface ChildSpec {
  /** Short name used in messages ("simulator", "gateway"). */
  name: string;
  /** Arguments after the node binary, e.g. ['--import', 'tsx', 'src/sim/main.ts']. */
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Returns the ready URL if this stdout line is the child's ready line, else undefined. */
  readyLine: (line: string) => string | undefined;
  /** If set, the child also counts as ready once GET <url> answers 2xx (for log levels that hide the ready line). */
  probeUrl?: string;
  timeoutMs: number;
}

export interface RunningChild {
  name: string;
  url: string;
  process: ChildProcess;
  /** Last lines of stderr and stdout, for error messages. */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

const TAIL_BYTES = 8 * 1024;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort: on process exit (any cause) SIGKILL whatever is still running. Synchronous by necessity. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
}

class Tail {
  private text = '';
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > TAIL_BYTES * 2) this.text = this.text.slice(-TAIL_BYTES);
  }
  toString(): string {
    return this.text.slice(-TAIL_BYTES).trimEnd();
  }
}

export class ChildStartError extends Error {
  override readonly name = 'ChildStartError';
}

export async function startChild(spec: ChildSpec): Promise<RunningChild> {
  installExitHook();
  const child = spawn(process.execPath, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const stdout = new Tail();
  const stderr = new Tail();
  let exitInfo: string | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal !== null ? `signal ${signal}` : `exit code ${code}`;
      live.delete(child);
      resolve();
    });
  });
  const output = (): string =>
    [`--- ${spec.name} stderr ---`, stderr.toString() || '(empty)', `--- ${spec.name} stdout ---`, stdout.toString() || '(empty)'].join('\n');

  const stop = async (): Promise<void> => {
    if (exitInfo !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exitedPromise;
    clearTimeout(timer);
  };

  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));

  const url = await new Promise<string>((resolve, reject) => {
    let settled = false;
    let buffered = '';
    const finish = (err: Error | undefined, value?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(prober);
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    const fail = (why: string): void => {
      finish(new ChildStartError(`${spec.name} failed to start: ${why}\n  command: node ${spec.args.join(' ')}\n${output()}`));
    };
    const timer = setTimeout(() => fail(`no ready signal within ${spec.timeoutMs} ms`), spec.timeoutMs);
    child.once('error', (err) => fail(`spawn error: ${err.message}`));
    void exitedPromise.then(() => fail(`exited before it was ready (${exitInfo})`));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout.push(chunk);
      if (settled) return;
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        const found = spec.readyLine(line);
        if (found !== undefined) return finish(undefined, found);
      }
    });
    let probing = false;
    const prober = setInterval(() => {
      if (spec.probeUrl === undefined || probing || settled) return;
      probing = true;
      probe(spec.probeUrl).then(
        (ok) => {
          probing = false;
          if (ok) finish(undefined, new URL(spec.probeUrl!).origin);
        },
        () => (probing = false),
      );
    }, 100);
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });

  return { name: spec.name, url, process: child, output, exited: () => exitInfo !== undefined, stop };
}

async function probe(url: string): Promise<boolean> {
  const { origin, pathname } = new URL(url);
  const client = new Client(origin, { connectTimeout: 500, headersTimeout: 500, bodyTimeout: 500 });
  try {
    const res = await client.request({ path: pathname, method: 'GET' });
    await res.body.arrayBuffer();
    return res.statusCode >= 200 && res.statusCode < 300;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => undefined);
  }
}
