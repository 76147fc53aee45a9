#!/usr/bin/env node
// The `sluice` CLI. In a checkout the code is TypeScript (cli/, lib/), loaded through tsx's ESM
// hooks, so the command runs after `npm ci` with no build step; the installed package ships
// the compiled JavaScript (dist/, built by `npm pack`) and needs no tsx.
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv);
