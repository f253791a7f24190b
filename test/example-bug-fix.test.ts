import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';
import { processesOfUid } from './procs.js';
// @ts-expect-error: the examples are plain ESM JavaScript without type declarations.
import { run } from '../examples/bug-fix/example.mjs';

type Ev = { id: string; type: string; name?: string; content?: unknown };
interface Observed {
  sessionId: string;
  sandboxId: string;
  uploaded: string[];
  events: Ev[];
  ended: { status: string; state: string; sandbox: { id: string | null; state: string } };
  listing: Array<{ path: string; type: string }>;
  fixed: { status: number; text: string };
  changed: Array<{ line: number; before: string; after: string }>;
  report: string;
  testsGone: number;
  uploadAfterEnd: number;
}

const scenario = JSON.parse(
  readFileSync(new URL('../examples/bug-fix/scenarios/bug-fix.json', import.meta.url), 'utf8'),
) as object;

// The example as users run it (examples/bug-fix/main.mjs calls the same run()), offline with its own scenario.
describe.skipIf(e2eSkipReason() !== false)('example: bug fix (ephemeral, kept artifacts)', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ scenarios: [scenario] });
  });
  afterAll(async () => t?.close());

  it('fixes the uploaded project, ends with its task, and serves the kept fix after the sandbox is gone', async () => {
    const lines: string[] = [];
    const sandboxes: Array<{ id: string; uid: number }> = [];
    // Note the sandbox's host uid while it runs, to prove nothing of it is left afterwards.
    const watcher = setInterval(() => {
      void (async () => {
        for (const s of await t.app.driver.list()) {
          if (!sandboxes.some((x) => x.id === s.id)) sandboxes.push({ id: s.id, uid: s.hostUid });
        }
      })();
    }, 50);
    const r = await (run as (deps: object) => Promise<Observed>)({
      client: t.client,
      app: t.app,
      scripted: true,
      log: (l: string) => lines.push(l),
    }).finally(() => clearInterval(watcher));

    expect(r.uploaded).toEqual(['src/cart.mjs', 'test/cart.test.mjs']);
    const results = r.events.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
    // The tests ran three ways: failing before the fix, passing after it (the real node test runner, in the sandbox).
    expect(results[0]).toContain('# fail 2');
    expect(results[0]).toContain('actual: 35');
    expect(results.at(-2)).toContain('# pass 4');
    expect(results.at(-2)).toContain('# fail 0');
    expect(r.events.map((e) => e.type)).toContain('session.status_terminated');
    expect(r.ended).toEqual({
      status: 'terminated',
      state: 'stopped',
      sandbox: expect.objectContaining({ state: 'stopped' }) as unknown,
    });

    // The sandbox is gone and nothing of it runs; its kept files are still served.
    expect(await t.app.driver.inspect(r.sandboxId)).toBeUndefined();
    const mine = sandboxes.find((s) => s.id === r.sandboxId);
    expect(mine).toBeDefined();
    expect(processesOfUid(mine!.uid)).toEqual([]);
    expect(r.listing.map((f) => f.path).sort()).toEqual(['FIX.md', 'src', 'src/cart.mjs']);
    expect(r.fixed.status).toBe(200);
    expect(r.changed).toEqual([
      {
        line: 6,
        before: '  for (let i = 1; i < items.length; i++) sum += items[i].price * items[i].qty;',
        after: '  for (let i = 0; i < items.length; i++) sum += items[i].price * items[i].qty;',
      },
    ]);
    expect(r.report).toContain('started at index 1');
    expect(r.testsGone).toBe(404);
    expect(r.uploadAfterEnd).toBe(409);
    expect(lines.some((l) => l.startsWith('kept artifacts: '))).toBe(true);
  }, 180_000);
});
