import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';
// @ts-expect-error: the examples are plain ESM JavaScript without type declarations.
import { run } from '../examples/site-builder/example.mjs';

interface Observed {
  preview: { url: string; port: number };
  anonymousStatus: number;
  before: { status: number; headline: string | null };
  after: { status: number; headline: string | null };
}

const scenario = JSON.parse(
  readFileSync(new URL('../examples/site-builder/scenarios/site-builder.json', import.meta.url), 'utf8'),
) as object;

describe.skipIf(e2eSkipReason() !== false)('example: site builder (persistent, live preview)', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ scenarios: [scenario], config: { previewPort: 0 } });
  });
  afterAll(async () => t?.close());

  it('serves the page the agent built through its preview URL, refuses it without the token, shows the edit', async () => {
    const lines: string[] = [];
    const runExample = run as (deps: object) => Promise<Observed>;
    const r = await runExample({ client: t.client, app: t.app, scripted: true, log: (l: string) => lines.push(l) });
    expect(r.preview.port).toBe(8000);
    expect(r.preview.url).toMatch(/^http:\/\/8000-[0-9a-z]{26}\.preview\.localhost:\d+\/$/);
    expect(r.anonymousStatus).toBe(401);
    expect(r.before).toEqual({ status: 200, headline: 'Sourdough & Co.' });
    expect(r.after).toEqual({ status: 200, headline: 'Sourdough & Co. is now open on Sundays' });
    expect(lines.some((l) => l.startsWith('agent: '))).toBe(true);
  }, 120_000);
});
