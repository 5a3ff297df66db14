#!/usr/bin/env node
// Entry point. In the clone the TypeScript sources run through tsx's loader (no build step while
// developing); the installed package runs its compiled JavaScript (dist/lib), with no loader.
import { existsSync } from 'node:fs';

const source = new URL('../coordinator/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/lib/coordinator/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
