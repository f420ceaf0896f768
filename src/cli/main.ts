import { runCli } from './run.js';

// The `budget-gateway` command's entry (bin/budget-gateway.js loads it). `serve` resolves once
// listening; the open server keeps the process alive until SIGTERM.
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
});
