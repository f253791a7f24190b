import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { e2eSkipReason, testUidBase } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };
interface Outcome {
  triggerId: string;
  deliveryId: string;
  accepted: { outcome: string; event_id: string; delivery_id: string };
  runs: Array<{ id: string; outcome: string; source: string; event_id: string }>;
  events: Ev[];
  reply: string;
  note: string;
}

// The example as users run it (examples/inbox-agent/main.mjs calls the same run()), offline with its own scenarios.
describe.skipIf(e2eSkipReason() !== false)('example: inbox agent driven by a webhook trigger', () => {
  it('triages the delivered email into a workspace note, with no client connected', async () => {
    // Plain-JS modules without declarations: imported through a variable and typed here.
    const lib = '../examples/lib/start.mjs';
    const example = '../examples/inbox-agent/example.mjs';
    const { startExample } = (await import(lib)) as {
      startExample: (run: unknown, o: { scenarios: string; overrides: object }) => Promise<Outcome>;
    };
    const { run, EMAIL } = (await import(example)) as {
      run: unknown;
      EMAIL: { subject: string; body: string };
    };
    const scenarios = fileURLToPath(new URL('../examples/inbox-agent/scenarios', import.meta.url));
    const out = await startExample(run, {
      scenarios,
      // The scripted model, whatever the environment says; a small uid range of its own, below the harness's ranges
      // (test files run in parallel workers).
      overrides: {
        scriptedModel: true,
        uidRangeStart: testUidBase() + 180_000 + (Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 16,
        uidRangeCount: 16,
      },
    });
    expect(out.accepted).toMatchObject({ outcome: 'sent', delivery_id: out.deliveryId });
    expect(out.runs).toEqual([
      expect.objectContaining({ source: 'webhook', outcome: 'sent', event_id: out.accepted.event_id }),
    ]);
    const msg = out.events.find((e) => e.id === out.accepted.event_id)!;
    expect(msg).toMatchObject({ type: 'user.message', berth: { trigger: { id: out.triggerId, kind: 'webhook' } } });
    const text = JSON.stringify(msg.content);
    expect(text).toContain(EMAIL.subject);
    expect(text).toContain('untrusted input from outside');
    expect(out.note).toContain('priority: high');
    expect(out.note).toContain('from: dana@example.com');
    expect(out.reply).toContain('Triaged: high priority');
  });
});
