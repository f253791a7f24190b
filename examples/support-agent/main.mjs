#!/usr/bin/env node
// Runs the support agent example: `node examples/support-agent/main.mjs` (as root, after `bash scripts/setup.sh`).
import { fileURLToPath } from 'node:url';
import { startExample } from '../lib/start.mjs';
import { run } from './example.mjs';

await startExample(run, { scenarios: fileURLToPath(new URL('./scenarios', import.meta.url)) });
