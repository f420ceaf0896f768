#!/usr/bin/env node
// The `budget-gateway` command (package.json "bin"). In a source checkout it runs the TypeScript
// sources through tsx (a devDependency), so `npx budget-gateway` works right after `npm install`
// with no build step and never runs a stale dist/. Where there are no sources or no tsx (the
// container image, a production install) it runs the compiled dist/ of `npm run build`.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/src/cli/main.js', import.meta.url);

async function withTsx() {
  if (!existsSync(sources)) return false;
  try {
    const { register } = await import('tsx/esm/api');
    register();
    return true;
  } catch {
    return false;
  }
}

if (await withTsx()) await import(sources.href);
else if (existsSync(compiled)) await import(compiled.href);
else {
  process.stderr.write('budget-gateway: neither tsx (npm install) nor a build (npm run build) is there to run it\n');
  process.exitCode = 1;
}
