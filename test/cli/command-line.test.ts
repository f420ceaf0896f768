import { describe, expect, it } from 'vitest';
import { API_OPTIONS } from '../../src/cli/command.js';
import { COMMANDS, runCli } from '../../src/cli/run.js';

/** The command line itself, parsed in-process: help for every command, and mistakes that exit 2 before any call. */

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { env, out: (text) => out.push(text), err: (text) => err.push(text) });
  return { code, stdout: out.join('\n'), stderr: err };
}

describe('budget-gateway --help', () => {
  it('lists every command', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command.words.join(' ')} `);
  });

  const named = COMMANDS.map((c) => [c.words.join(' '), c] as const);
  it.each(named)('%s --help names its arguments and every option, and exits 0', async (name, command) => {
    const help = await cli([...command.words, '--help']);
    expect(help).toMatchObject({ code: 0, stderr: [] });
    expect(help.stdout.split('\n')[0]).toBe(`Usage: budget-gateway ${[name, ...command.args.map((a) => `<${a}>`)].join(' ')} [options]`);
    const options = Object.keys({ ...command.options, ...(command.kind === 'api' ? API_OPTIONS : {}) });
    for (const option of [...options, 'help']) expect(help.stdout).toMatch(new RegExp(`^  (-h, )?--${option}\\b`, 'm'));
  });

  it('a group shows its own commands', async () => {
    const help = await cli(['override', '-h']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}override grant +.+\n {2}override remove +.+$/m);
    expect(help.stdout).not.toContain('tenant create');
  });
});

describe('command-line mistakes exit 2 with one line pointing at --help, before calling anything', () => {
  const env = { ADMIN_API_KEY: 'test-admin-key-0123456789' };
  it.each([
    [[], 'no command given (see budget-gateway --help)'],
    [['tenants'], 'unknown command "tenants" (see budget-gateway --help)'],
    [['tenant'], 'tenant needs a command (see budget-gateway tenant --help)'],
    [['tenant', 'delete', 'acme'], 'unknown command "tenant delete" (see budget-gateway tenant --help)'],
    [['tenant', 'show'], 'tenant show takes <tenant_id> (see budget-gateway tenant show --help)'],
    [['key', 'revoke', 'acme'], 'key revoke takes <tenant_id> <key_id> (see budget-gateway key revoke --help)'],
    [['reset', 'acme', 'globex'], 'reset takes <tenant_id> (see budget-gateway reset --help)'],
    [['tenant', 'create', 'acme'], 'tenant create needs --max-budget <usd> (see budget-gateway tenant create --help)'],
    [['tenant', 'list', '--limit', '5'], /Unknown option '--limit'.* \(see budget-gateway tenant list --help\)/],
    [['tenant', 'list', '--url', 'ftp://example.com'], '--url must be an http(s) URL (got "ftp://example.com") (see budget-gateway --help)'],
  ] as const)('%j', async (argv, message) => {
    const line =
      typeof message === 'string' ? `budget-gateway: ${message}` : expect.stringMatching(new RegExp(`^budget-gateway: ${message.source}$`));
    expect(await cli([...argv], env)).toEqual({ code: 2, stdout: '', stderr: [line] });
  });

  it('an admin command without ADMIN_API_KEY or --admin-key', async () => {
    expect(await cli(['tenant', 'list'])).toEqual({
      code: 2,
      stdout: '',
      stderr: ['budget-gateway: no admin key: set ADMIN_API_KEY or pass --admin-key (see budget-gateway --help)'],
    });
  });
});
