// The peer: the Portkey AI gateway (`@portkey-ai/gateway`, a devDependency) as a child process in
// front of the same simulator, forwarding as the OpenAI provider to a custom host. It cannot be
// told which address to listen on, so bench/lib/portkey-shims.mjs makes it bind 127.0.0.1, and the
// caller checks with `assertLoopbackOnly` in /proc before any load is sent.

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningChild, freePort, startChild } from './children.js';

const SHIMS = fileURLToPath(new URL('./portkey-shims.mjs', import.meta.url));

/** The installed Portkey entry point and version. */
export function portkeyPackage(): { entry: string; version: string } {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('@portkey-ai/gateway/package.json');
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { entry: join(dirname(manifest), 'build', 'start-server.js'), version };
}

/** What every request to Portkey carries so it forwards to the simulator as OpenAI would be called. */
export function portkeyHeaders(simUrl: string, forward: readonly string[] = []): Record<string, string> {
  return {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `${simUrl}/v1`,
    ...(forward.length > 0 ? { 'x-portkey-forward-headers': forward.join(',') } : {}),
  };
}

export async function startPortkey(
  settings: { root: string; host: string; timeoutMs: number },
  extraNodeArgs: readonly string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<RunningChild> {
  const { entry } = portkeyPackage();
  const port = await freePort(settings.host);
  const child = await startChild({
    name: 'portkey gateway',
    args: [...extraNodeArgs, '--import', SHIMS, entry, '--headless', `--port=${port}`],
    cwd: settings.root,
    env: { ...(process.env as Record<string, string>), ...extraEnv, BENCH_LISTEN_HOST: settings.host },
    // Its ready line is decorated with ANSI colours; a 2xx on GET / ("AI Gateway says hey!") is plainer.
    readyLine: () => undefined,
    probeUrl: `http://${settings.host}:${port}/`,
    timeoutMs: settings.timeoutMs,
  });
  return child;
}

const LOOPBACK = new Set(['0100007F', '00000000000000000000000001000000']); // 127.0.0.1, ::1

/**
 * Every listening TCP socket of `pid` (found through its file descriptors' socket inodes in
 * /proc/net/tcp and tcp6) must be bound to loopback, and one of them to `port`. Throws otherwise.
 * Linux only; elsewhere it cannot check and says so on stderr.
 */
export function assertLoopbackOnly(pid: number, port: number): void {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((inode): inode is string => inode !== undefined),
    );
  } catch {
    console.error(`[bench] cannot read /proc/${pid}/fd: not checking that Portkey listens on loopback only`);
    return;
  }
  const listening: { address: string; port: number }[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue; // 0A: LISTEN
      const [address, hexPort] = f[1]!.split(':') as [string, string];
      listening.push({ address, port: Number.parseInt(hexPort, 16) });
    }
  }
  const exposed = listening.filter((l) => !LOOPBACK.has(l.address));
  if (exposed.length > 0 || !listening.some((l) => l.port === port)) {
    throw new Error(`Portkey (pid ${pid}) must listen on loopback only, port ${port}; it listens on ${JSON.stringify(listening)}`);
  }
}
