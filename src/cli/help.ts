import { API_OPTIONS, type Command } from './command.js';

/** `--help` texts, written from the commands' own specs so they cannot drift from what is parsed. */

export function mainHelp(commands: readonly Command[], group?: string): string {
  const shown = group === undefined ? commands : commands.filter((c) => c.words[0] === group);
  const width = Math.max(...shown.map((c) => c.words.join(' ').length));
  return [
    `Usage: budget-gateway ${group === undefined ? '' : `${group} `}<command> [options]`,
    '',
    'Runs the gateway, or manages a running one through its admin API.',
    '',
    'Commands:',
    ...shown.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Admin commands call --url (default http://127.0.0.1:8080) with the admin key from ADMIN_API_KEY',
    "(or --admin-key) and print tables, or the API's JSON with --json. A refusal exits 1 with one",
    'line on stderr; a mistake in the command line exits 2.',
    '',
    `Run budget-gateway ${group ?? '<command>'} ${group === undefined ? '' : '<command> '}--help for the options of one command.`,
  ].join('\n');
}

export function commandHelp(command: Command): string {
  const options: Record<string, { value?: string; description: string }> = {
    ...command.options,
    ...(command.kind === 'api' ? API_OPTIONS : {}),
    help: { description: 'show this help' },
  };
  const flags = Object.entries(options).map(([name, spec]) => [
    `${name === 'help' ? '-h, ' : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`,
    spec.description,
  ] as const);
  const width = Math.max(...flags.map(([flag]) => flag.length));
  return [
    `Usage: budget-gateway ${[...command.words, ...command.args.map((a) => `<${a}>`)].join(' ')} [options]`,
    '',
    command.summary,
    '',
    'Options:',
    ...flags.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`),
    '',
    'Examples:',
    ...command.examples.map((example) => `  ${example}`),
  ].join('\n');
}
