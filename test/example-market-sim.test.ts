import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';
import { readFileSync } from 'node:fs';
// @ts-expect-error: the examples are plain ESM JavaScript without type declarations.
import { run } from '../examples/market-sim/example.mjs';

interface Step {
  role: string;
  tools: string[];
  reply: string;
}
interface Observed {
  sessions: Record<string, { shared_sandbox_id: string; sandbox: { id: string | null } }>;
  steps: Step[];
  ledger: string;
}

const scenario = (name: string) =>
  JSON.parse(readFileSync(new URL(`../examples/market-sim/scenarios/${name}.json`, import.meta.url), 'utf8')) as object;

// The example as users run it (examples/market-sim/main.mjs calls the same run()), offline with its own scenarios.
describe.skipIf(e2eSkipReason() !== false)('example: market simulation (shared sandbox)', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ scenarios: [scenario('market-seller'), scenario('market-buyer')] });
  });
  afterAll(async () => t?.close());

  it('trades through outboxes in /shared; the buyer cannot change the seller’s offer', async () => {
    const lines: string[] = [];
    const r = await (run as (deps: object) => Promise<Observed>)({
      client: t.client,
      app: t.app,
      scripted: true,
      log: (l: string) => lines.push(l),
    });
    // Co-located: both sessions are members of one shared sandbox, each in a sandbox (uid, workspace) of its own.
    const { seller, buyer } = r.sessions;
    expect(seller!.shared_sandbox_id).toMatch(/^shr_/);
    expect(buyer!.shared_sandbox_id).toBe(seller!.shared_sandbox_id);
    const [offer, bid, tamper, deal] = r.steps.map((s) => s.tools.join('\n'));
    expect(offer).toContain('uid=1001 outbox=/shared/agent1');
    expect(offer).toContain('OFFER-POSTED');
    expect(bid).toContain('uid=1002 outbox=/shared/agent2');
    expect(bid).toContain('offer: 12 crates of apples at 40 per crate');
    expect(bid).toContain('BID-POSTED');
    // Every attempt on the seller's outbox failed, and the offer is unchanged.
    expect(tamper).toContain('/shared/agent1/offer.md: Permission denied');
    expect(tamper).toContain("rm: cannot remove '/shared/agent1/offer.md': Permission denied");
    expect(tamper).toMatch(/mv: cannot move .*Permission denied/);
    expect(tamper).toContain('/shared/agent1/offer-new.md: Permission denied');
    expect(tamper).toContain('--- offer now:\noffer: 12 crates of apples at 40 per crate');
    expect(deal).toContain('bid: 12 crates of apples at 36 per crate');
    expect(deal).toContain('--- offer:\noffer: 12 crates of apples at 40 per crate');
    expect(deal).not.toContain('at 20 per crate');
    expect(r.ledger).toBe('offered 12 crates at 40\nsold 12 crates at 36\n');
    // The run deleted both sessions: the shared sandbox went with the last one.
    for (const s of [seller!, buyer!]) expect(await t.app.driver.inspect(s.sandbox.id!)).toBeUndefined();
    expect(lines.some((l) => l.includes('shared sandbox shr_'))).toBe(true);
  }, 240_000);
});
