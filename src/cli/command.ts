import type { AdminClient } from './admin-client.js';

/**
 * The shape of a `budget-gateway` subcommand: its words, arguments and options (with the help
 * text beside them), and what it does. Commands return what to print; run.ts prints it, as a
 * table or as the API's JSON, and turns failures into one line and an exit code.
 */

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** The placeholder shown in help, e.g. `<usd>`. */
  readonly value?: string;
  /** Left out, the command line is refused (exit 2) before anything is called. */
  readonly required?: boolean;
}

/** The options every admin command takes, beside its own. */
export const API_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: { type: 'string', value: '<url>', description: 'the gateway (default http://127.0.0.1:8080)' },
  'admin-key': { type: 'string', value: '<key>', description: 'the admin key (default: ADMIN_API_KEY from the environment)' },
  json: { type: 'boolean', description: "print the API's JSON answer instead of a table" },
};

export type OptionValues = Readonly<Record<string, string | boolean | undefined>>;

export interface CommandInput {
  /** The positional arguments, by the names in `args`. */
  readonly args: Readonly<Record<string, string>>;
  readonly options: OptionValues;
}

export interface Output {
  /** What `--json` prints: the API's answer as it came. */
  readonly json: unknown;
  /** What is printed otherwise: a table or a sentence. */
  readonly text: string;
}

interface CommandSpec {
  /** The words that name it, e.g. ['tenant', 'create']. */
  readonly words: readonly string[];
  readonly summary: string;
  /** Required positional arguments, in order. */
  readonly args: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
}

/** A command that talks to the admin API of a running gateway (`--url`, `--admin-key`, `--json`). */
export interface ApiCommand extends CommandSpec {
  readonly kind: 'api';
  run(api: AdminClient, input: CommandInput): Promise<Output>;
}

/** A command that is the gateway process itself, configured by the environment like it. */
export interface ProcessCommand extends CommandSpec {
  readonly kind: 'process';
  /** Resolves once started (serve) or done (migrate); nothing to print when undefined. */
  run(input: CommandInput): Promise<Output | undefined>;
}

export type Command = ApiCommand | ProcessCommand;

/** A failure to report in one line; 2 for a mistake in the command line itself, as shells expect. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** A number when the text is one; otherwise the text, so the API names the problem in its own words. */
export function numberOrText(text: string | boolean | undefined): number | string | undefined {
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  return /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : text;
}

export function stringValue(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
