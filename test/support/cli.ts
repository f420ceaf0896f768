import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/** The `budget-gateway` command as an operator runs it: package.json's bin, in its own process. */
export const BIN = fileURLToPath(new URL('../../bin/budget-gateway.js', import.meta.url));

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the command to its end with only `env` (and PATH) in its environment. */
export async function budgetGateway(args: readonly string[], env: Record<string, string> = {}): Promise<CommandResult> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** A failed command, for `toEqual`: its exit code, nothing on stdout, exactly this one line on stderr. */
export function oneLineFailure(code: number, line: string | RegExp) {
  const stderr = typeof line === 'string' ? `${line}\n` : expect.stringMatching(new RegExp(`^${line.source}\\n$`));
  return { code, stdout: '', stderr };
}
