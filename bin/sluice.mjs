#!/usr/bin/env node
// The `sluice` CLI. The code is TypeScript (cli/, lib/), loaded through tsx's ESM hooks, so
// the command runs straight from a checkout after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
