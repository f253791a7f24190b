#!/usr/bin/env node
// Runs the bug-fix example: `node examples/bug-fix/main.mjs` (as root, after `bash scripts/setup.sh`).
import { fileURLToPath } from 'node:url';
import { startExample } from '../lib/start.mjs';
import { run } from './example.mjs';

await startExample(run, { scenarios: fileURLToPath(new URL('./scenarios', import.meta.url)) });
