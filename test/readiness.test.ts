import { afterEach, describe, expect, it } from 'vitest';
import { e2eSkipReason, startTestBerth, type TestBerth } from './harness.js';

type ErrorBody = {
  type: string;
  error: { type: string; message: string; details: { error_code: string; problems: string[] } };
  request_id: string;
};

async function readyz(t: TestBerth): Promise<{ status: number; body: unknown; requestId: string | null }> {
  const res = await fetch(`${t.app.url}/readyz`);
  return { status: res.status, body: await res.json(), requestId: res.headers.get('request-id') };
}

/** /healthz says the process is alive; /readyz says whether it can serve: its store answers and its drivers work. */
describe.skipIf(e2eSkipReason() !== false)('readiness: /readyz fails when the store or a driver is unusable', () => {
  let t: TestBerth | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('is ready, then answers 503 in the Anthropic error shape once the store is closed (healthz stays 200)', async () => {
    t = await startTestBerth();
    expect(await readyz(t)).toMatchObject({ status: 200, body: { status: 'ready', problems: [] } });
    // The real SQLite handle, closed: every query now fails as an unreachable database would.
    await t.app.store.close();
    const r = await readyz(t);
    expect(r.status).toBe(503);
    const body = r.body as ErrorBody;
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('api_error');
    expect(body.error.details.error_code).toBe('not_ready');
    expect(body.error.details.problems).toHaveLength(1);
    expect(body.error.details.problems[0]).toMatch(/^store: /);
    expect(body.error.message).toContain('store: ');
    expect(body.request_id).toBe(r.requestId);
    expect((await fetch(`${t.app.url}/healthz`)).status).toBe(200);
  });

  it('answers 503 naming the driver when no usable bubblewrap exists', async () => {
    t = await startTestBerth({ config: { bwrapPath: '/nonexistent/bwrap' } });
    const r = await readyz(t);
    expect(r.status).toBe(503);
    const body = r.body as ErrorBody;
    expect(body.error.details.error_code).toBe('not_ready');
    expect(body.error.details.problems.some((p) => p.startsWith('bwrap: bubblewrap not found'))).toBe(true);
    expect(body.error.details.problems.some((p) => p.startsWith('store:'))).toBe(false);
  });
});
