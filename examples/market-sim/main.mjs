#!/usr/bin/env node
// Runs the market simulation example: `node examples/market-sim/main.mjs` (as root, after `bash scripts/setup.sh`).
import { fileURLToPath } from 'node:url';
import { startExample } from '../lib/start.mjs';
import { run } from './example.mjs';

await startExample(run, { scenarios: fileURLToPath(new URL('./scenarios', import.meta.url)) });
