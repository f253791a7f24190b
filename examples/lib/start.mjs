// Shared start-up for the runnable examples: berthd in-process on the embedded defaults (SQLite, bwrap, the
// scripted model with the example's own scenarios, or the real model when ANTHROPIC_API_KEY is set), then the
// example's `run()` against it with the official @anthropic-ai/sdk. Needs root, like `berth demo`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { createLogger, loadConfig, startBerth } from '@berth/server';

/**
 * Starts berthd with `scenarios` (a directory of scripted-model scenarios), runs `run({client, app, scripted, log})`
 * and stops berthd again (its sandboxes are removed). `BERTH_EXAMPLE_DATA_DIR` keeps the data dir for inspection.
 */
export async function startExample(run, { scenarios, overrides = {} }) {
  const keep = process.env.BERTH_EXAMPLE_DATA_DIR;
  const dataDir = keep ?? (await mkdtemp(join(tmpdir(), 'berth-example-')));
  // An example cleans up after itself: stopping berthd destroys its sandboxes.
  const config = loadConfig(process.env, {
    dataDir,
    port: 0,
    scenarios: [scenarios],
    stopSandboxesOnExit: true,
    ...overrides,
  });
  const app = await startBerth(config, { logger: createLogger(process.env.BERTH_LOG_LEVEL ?? 'warn', process.stderr) });
  const client = new Anthropic({ baseURL: app.url, apiKey: app.adminKey });
  const log = (line) => console.log(line);
  try {
    return await run({ client, app, scripted: config.scriptedModel, log });
  } finally {
    await app.close();
    if (!keep) await rm(dataDir, { recursive: true, force: true });
  }
}

/** The text of a user message: scripted runs prefix the scenario tag, real-model runs send the prompt alone. */
export function prompt(scripted, scenario, text) {
  return scripted ? `[scenario:${scenario}] ${text}` : text;
}
