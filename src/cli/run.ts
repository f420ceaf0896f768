import { parseArgs, type ParseArgsConfig } from 'node:util';
import { adminClient, type AdminClient } from './admin-client.js';
import { API_OPTIONS, CliError, type Command, type OptionValues, type Output } from './command.js';
import { keyAdd, keyRevoke } from './commands/keys.js';
import { overrideGrant, overrideRemove } from './commands/overrides.js';
import { migrate, serve } from './commands/process.js';
import { reset } from './commands/reset.js';
import { tenantCreate, tenantList, tenantShow } from './commands/tenants.js';
import { commandHelp, mainHelp } from './help.js';

/**
 * The `budget-gateway` command (CONTRACT section 12): finds the subcommand, parses its options
 * with node:util parseArgs, runs it, prints a table or `--json`, and turns every failure into
 * one line on stderr: exit 1 when the gateway (or the database) refuses, 2 for a mistake in the
 * command line.
 */

export const COMMANDS: readonly Command[] = [
  serve,
  migrate,
  tenantCreate,
  tenantShow,
  tenantList,
  keyAdd,
  keyRevoke,
  overrideGrant,
  overrideRemove,
  reset,
];

const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  out(text: string): void;
  err(text: string): void;
}

/** Runs one command line (without `node` and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const found = findCommand(argv);
    if (typeof found === 'string') {
      io.out(found);
      return 0;
    }
    const output = await execute(found.command, found.rest, io);
    if (output !== undefined) io.out(output);
    return 0;
  } catch (err) {
    const failure = err instanceof CliError ? err : new CliError((err as Error).message);
    io.err(`budget-gateway: ${failure.message.replace(/\s*\n\s*/g, ' ')}`);
    return failure.exitCode;
  }
}

/** The command named by the first words, or a help text to print. */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | string {
  const [first, second] = argv;
  if (first === undefined) throw usage('no command given');
  if (isHelp(first) || first === 'help') return mainHelp(COMMANDS);
  const byTwo = COMMANDS.find((c) => c.words.length === 2 && c.words[0] === first && c.words[1] === second);
  if (byTwo) return { command: byTwo, rest: argv.slice(2) };
  const byOne = COMMANDS.find((c) => c.words.length === 1 && c.words[0] === first);
  if (byOne) return { command: byOne, rest: argv.slice(1) };
  if (COMMANDS.some((c) => c.words[0] === first)) {
    if (second !== undefined && isHelp(second)) return mainHelp(COMMANDS, first);
    throw usage(second === undefined ? `${first} needs a command` : `unknown command "${first} ${second}"`, first);
  }
  throw usage(`unknown command "${first}"`);
}

async function execute(command: Command, rest: string[], io: CliIo): Promise<string | undefined> {
  const name = command.words.join(' ');
  const { values, positionals } = parse(command, rest);
  if (values.help) return commandHelp(command);
  if (positionals.length !== command.args.length) {
    throw usage(`${name} takes ${command.args.length === 0 ? 'no arguments' : command.args.map((a) => `<${a}>`).join(' ')}`, name);
  }
  const missing = Object.entries(command.options).find(([option, spec]) => spec.required && values[option] === undefined);
  if (missing) throw usage(`${name} needs --${missing[0]} ${missing[1].value ?? ''}`.trimEnd(), name);
  const input = { args: Object.fromEntries(command.args.map((a, i) => [a, positionals[i]!])), options: values };
  const output: Output | undefined = command.kind === 'api' ? await command.run(apiFor(values, io), input) : await command.run(input);
  if (output === undefined) return undefined;
  return values.json ? JSON.stringify(output.json, null, 2) : output.text;
}

function parse(command: Command, rest: string[]): { values: OptionValues; positionals: string[] } {
  const specs = { ...command.options, ...(command.kind === 'api' ? API_OPTIONS : {}) };
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.type };
  try {
    const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    // No option is `multiple`, so no value is an array.
    return { values: values as OptionValues, positionals };
  } catch (err) {
    throw usage((err as Error).message, command.words.join(' '));
  }
}

function apiFor(values: OptionValues, io: CliIo): AdminClient {
  const url = typeof values.url === 'string' ? values.url : DEFAULT_URL;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw usage(`--url must be an http(s) URL (got "${url}")`);
  const key = typeof values['admin-key'] === 'string' ? values['admin-key'] : io.env.ADMIN_API_KEY;
  if (!key) throw usage('no admin key: set ADMIN_API_KEY or pass --admin-key');
  return adminClient(url, key);
}

function isHelp(word: string): boolean {
  return word === '--help' || word === '-h';
}

function usage(message: string, command?: string): CliError {
  return new CliError(`${message} (see budget-gateway ${command ? `${command} ` : ''}--help)`, 2);
}
