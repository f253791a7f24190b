import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';
// @ts-expect-error: the examples are plain ESM JavaScript without type declarations.
import { MESSAGES, run } from '../examples/support-agent/example.mjs';

type Ev = { id: string; type: string; content?: unknown };
interface Turn {
  events: Ev[];
  ms: { echo: number; first_agent_event: number; idle: number };
}
interface Observed {
  sessionId: string;
  transitions: Array<{ at_ms: number; state: string }>;
  sandboxes: string[];
  first: Turn;
  second: Turn;
  extraFirstEventMs: number;
  notes: string;
}

const scenario = JSON.parse(
  readFileSync(new URL('../examples/support-agent/scenarios/support-desk.json', import.meta.url), 'utf8'),
) as object;

// The example as users run it (examples/support-agent/main.mjs calls the same run()), offline with its own scenario.
describe.skipIf(e2eSkipReason() !== false)('example: support agent (hybrid, hibernates between messages)', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ scenarios: [scenario] });
  });
  afterAll(async () => t?.close());

  it('hibernates between the customer messages and resumes with the notes and the conversation', async () => {
    const lines: string[] = [];
    const r = await (run as (deps: object) => Promise<Observed>)({
      client: t.client,
      app: t.app,
      scripted: true,
      log: (l: string) => lines.push(l),
    });
    const states = r.transitions.map((x) => x.state);
    // ready → (running) → ready → hibernated → … → ready, in this order (polling may miss a short state).
    const hib = states.indexOf('hibernated');
    expect(hib, JSON.stringify(states)).toBeGreaterThan(states.indexOf('ready'));
    expect(states.lastIndexOf('ready')).toBeGreaterThan(hib);
    // Two sandboxes: the one destroyed at hibernation, and the one the resume started.
    expect(r.sandboxes).toHaveLength(2);
    for (const id of r.sandboxes) expect(await t.app.driver.inspect(id)).toBeUndefined(); // the session was deleted

    // The resumed agent read the notes written before the hibernation, and appended to them.
    const results = r.second.events.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
    expect(results[0]).toContain('contact 1: error E42 after descaling');
    expect(r.notes).toContain('- contact 1: error E42 after descaling');
    expect(r.notes).toContain('- contact 2: E42 persists after the sensor reset; replacement RMA-4417-1 opened');
    // The model's first request for message 2 carried the whole conversation (the SDK resumed the transcript).
    const bodies = t.app.scriptedModel!.requests.map((q) =>
      JSON.stringify((q.body as { messages?: unknown }).messages),
    );
    const second = (MESSAGES as string[])[1]!;
    const resumed = bodies.find((b) => b.includes(second));
    expect(resumed).toBeDefined();
    expect(resumed).toContain('Maya Lind (order 4417)');
    expect(resumed).toContain('hold the power button for 10 seconds');
    expect(r.second.events.filter((e) => e.type === 'session.error')).toEqual([]);
    expect(r.extraFirstEventMs).toBe(r.second.ms.first_agent_event - r.first.ms.first_agent_event);
    expect(lines.some((l) => /berth\.state hibernated/.test(l))).toBe(true);
  }, 240_000);
});
