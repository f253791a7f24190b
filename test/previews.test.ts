import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { loopback, previewFetch } from './preview-client.js';

const SERVER = readFileSync(new URL('./fixtures/preview-server.js', import.meta.url), 'utf8');
/** Runs in the sandbox: claims a tunnel berthd never opened and reports whether berthd dropped the connection. */
const FORGE_TUNNEL = `const s = require('node:net').connect('/run/berth/tunnel.sock');
s.on('connect', () => s.write(JSON.stringify({ tunnel_id: 'a'.repeat(32), ok: true }) + '\\n'));
s.on('data', () => console.log('FORGED_GOT_DATA'));
s.on('close', () => { console.log('FORGED_CLOSED'); process.exit(0); });
s.on('error', (e) => console.log('FORGED_ERROR ' + e.code));
setTimeout(() => { console.log('FORGED_STILL_OPEN'); process.exit(0); }, 5000);
`;
const bash = (command: string) => ({ content: [{ type: 'tool_use', name: 'Bash', input: { command } }] });
const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
/** Writes the server, a page saying `site`, starts the server in the background and waits until it listens. */
const serve = (name: string, site: string) => ({
  name,
  turns: [
    { content: [{ type: 'tool_use', name: 'Write', input: { file_path: '/workspace/server.cjs', content: SERVER } }] },
    bash(
      `mkdir -p /workspace/site && echo '<h1>${site}: version one</h1>' > /workspace/site/index.html && ` +
        '(setsid nohup node /workspace/server.cjs 8080 > /workspace/server.log 2>&1 &) ; ' +
        'for i in $(seq 300); do grep -q listening /workspace/server.log 2>/dev/null && break; sleep 0.1; done; ' +
        'cat /workspace/server.log; echo "MODEL=$ANTHROPIC_BASE_URL"',
    ),
    text('Serving on 8080.'),
    // The second user message continues the same conversation, so its turns follow here.
    bash("sed -i 's/version one/version two/' /workspace/site/index.html"),
    text('Edited.'),
    // Third message: the agent speaks to the tunnel socket itself, with a tunnel id berthd never asked for.
    {
      content: [
        { type: 'tool_use', name: 'Write', input: { file_path: '/workspace/probe.cjs', content: FORGE_TUNNEL } },
      ],
    },
    bash('node /workspace/probe.cjs'),
    text('Probed.'),
  ],
});
const scenarios = [serve('serve-a', 'site A'), serve('serve-b', 'site B')];

type Ev = { type: string; [k: string]: unknown };
interface PreviewJson {
  type: string;
  id: string;
  port: number;
  url: string;
  token?: string;
  access_url?: string;
}
/** The fields the tests read from API answers (errors and previews). */
interface ApiBody extends PreviewJson {
  error: { type: string; message: string; details: { error_code: string } };
  data: PreviewJson[];
}
const errorOf = (body: string) => (JSON.parse(body) as ApiBody).error;

describe.skipIf(e2eSkipReason() !== false)('port previews through runner tunnels', () => {
  let t: TestBerth;
  const sessions: Record<string, { id: string; events: Ev[] }> = {};
  const previews: Record<string, { id: string; url: string; token: string; access_url: string }> = {};

  const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${t.app.url}${path}`, {
      method: init.method ?? 'GET',
      headers: { 'x-api-key': t.app.adminKey, 'content-type': 'application/json' },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as ApiBody };
  };

  async function servingSession(key: string, scenario: string) {
    const { agentId, envId } = await agentAndEnv(t.client);
    const s = await t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const events = (await collectTurn(t.client, s.id, () =>
      say(t.client, s.id, `[scenario:${scenario}] serve`),
    )) as Ev[];
    sessions[key] = { id: s.id, events };
    const created = await api(`/v1/berth/sessions/${s.id}/previews`, { method: 'POST', body: { port: 8080 } });
    const results = events.filter((e) => e.type === 'agent.tool_result').map((e) => e.content);
    expect(created.status, `${JSON.stringify(created.body)} after ${JSON.stringify(results)}`).toBe(200);
    previews[key] = created.body as never;
  }

  beforeAll(async () => {
    t = await startTestBerth({
      scenarios,
      config: { previewPort: 0, previewMaxConnections: 4, previewIdleTimeoutS: 2 },
    });
    await servingSession('a', 'serve-a');
    await servingSession('b', 'serve-b');
  }, 120_000);
  afterAll(async () => {
    const t0 = Date.now();
    await t?.close();
    // A busy preview WebSocket must not hold the shutdown (berthd stops sessions after closing its listeners).
    expect(Date.now() - t0).toBeLessThan(15_000);
  }, 30_000);

  it('serves the page the agent wrote, by token cookie or header, and shows its edit on reload', async () => {
    const a = previews.a!;
    const ulid = sessions.a!.id.slice(5).toLowerCase();
    expect(a.url).toMatch(new RegExp(`^http://8080-${ulid}\\.preview\\.localhost:\\d+/$`));
    expect(a.token).toMatch(/^bpt_/);
    expect(t.app.previewUrl).toMatch(/^http:\/\/preview\.localhost:\d+$/);

    const anon = await previewFetch(a.url);
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.body) as ApiBody).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect(anon.body).not.toContain('version');

    const login = await previewFetch(a.access_url);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/');
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).toMatch(/^berth_preview=bpt_[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
    const jar = cookie.split(';')[0]!;

    const page = await previewFetch(a.url, { headers: { cookie: jar } });
    expect(page.status).toBe(200);
    expect(page.body).toContain('site A: version one');
    const byHeader = await previewFetch(a.url, { headers: { 'x-berth-preview-token': a.token } });
    expect(byHeader.body).toContain('site A: version one');

    // The sandbox never sees the token: header, cookie and query parameter are stripped; other cookies pass.
    const echo = await previewFetch(`${a.url}headers?x=1&berth_token=${a.token}`, {
      method: 'GET',
      headers: { 'x-berth-preview-token': a.token, cookie: `theirs=1; ${jar}` },
    });
    expect(echo.status).toBe(303); // a query token always trades for the cookie first
    const seen = await previewFetch(`${a.url}headers?x=1`, {
      headers: { 'x-berth-preview-token': a.token, cookie: `theirs=1; ${jar}` },
    });
    const got = JSON.parse(seen.body) as { url: string; headers: Record<string, string> };
    expect(got.url).toBe('/headers?x=1');
    expect(got.headers.cookie).toBe('theirs=1');
    expect(got.headers.host).toBe(new URL(a.url).host);
    expect(JSON.stringify(got)).not.toContain(a.token);

    // A large body streams through (never buffered whole).
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    const posted = await previewFetch(a.url, { method: 'POST', body: big, headers: { cookie: jar } });
    expect(posted.body).toBe(`received ${big.length}`);

    // Each request is its own tunnel (control frame, runner connect, unix connect): measure what that costs.
    const ms: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      expect((await previewFetch(a.url, { headers: { cookie: jar } })).status).toBe(200);
      ms.push(performance.now() - t0);
    }
    ms.sort((x, y) => x - y);
    console.log(`preview GET through a tunnel: median ${ms[15]!.toFixed(1)} ms, max ${ms[29]!.toFixed(1)} ms`);
    expect(ms[15]).toBeLessThan(1000);

    await collectTurn(t.client, sessions.a!.id, () => say(t.client, sessions.a!.id, 'Now say version two.'));
    const reloaded = await previewFetch(a.url, { headers: { cookie: jar } });
    expect(reloaded.body).toContain('site A: version two');
  }, 90_000);

  it("refuses another session's token, ports without a preview, and ports nothing listens on", async () => {
    const a = previews.a!;
    const b = previews.b!;
    const crossed = await previewFetch(b.url, { headers: { 'x-berth-preview-token': a.token } });
    expect(crossed.status).toBe(403);
    expect(errorOf(crossed.body).type).toBe('permission_error');
    expect((await previewFetch(a.url, { headers: { 'x-berth-preview-token': b.token } })).status).toBe(403);
    // The same port in another sandbox is another server.
    const pageB = await previewFetch(b.url, { headers: { 'x-berth-preview-token': b.token } });
    expect(pageB.body).toContain('site B: version one');

    // A port of session A with no preview: A's token does not open it.
    const other = a.url.replace('//8080-', '//8081-');
    expect((await previewFetch(other, { headers: { 'x-berth-preview-token': a.token } })).status).toBe(403);
    const unknownHost = await previewFetch(a.url.replace('preview.localhost', 'example.test'));
    expect(unknownHost.status).toBe(404);

    const closed = await api(`/v1/berth/sessions/${sessions.a!.id}/previews`, { method: 'POST', body: { port: 9 } });
    expect(closed.status).toBe(409);
    expect(closed.body.error.details.error_code).toBe('port_not_listening');
    expect(closed.body.error.message).toContain('port 9');

    // The runner's own forwarders (model gateway, egress proxy) are never previewed.
    const out = JSON.stringify(sessions.a!.events.filter((e) => e.type === 'agent.tool_result').map((e) => e.content));
    const modelPort = Number(/MODEL=http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    expect(modelPort).toBeGreaterThan(0);
    const reserved = await api(`/v1/berth/sessions/${sessions.a!.id}/previews`, {
      method: 'POST',
      body: { port: modelPort },
    });
    expect(reserved.status).toBe(400);
    expect(reserved.body.error.message).toContain("Berth's runner");

    // The sandbox can reach its tunnel socket, but a tunnel id berthd never sent is dropped at once.
    const probe = await collectTurn(t.client, sessions.a!.id, () => say(t.client, sessions.a!.id, 'Probe it.'));
    const probeOut = JSON.stringify(probe.filter((e) => e.type === 'agent.tool_result').map((e) => e.content));
    expect(probeOut).toContain('FORGED_CLOSED');
    expect(probeOut).not.toContain('FORGED_GOT_DATA');

    // previewIdleTimeoutS is 2: a WebSocket with no traffic either way is closed.
    const idle = new WebSocket(a.url.replace('http://', 'ws://'), {
      headers: { 'x-berth-preview-token': a.token },
      lookup: loopback,
    });
    await new Promise((resolve, reject) => idle.once('open', resolve).once('error', reject));
    const idleFrom = Date.now();
    await new Promise<void>((resolve) => idle.once('close', () => resolve()));
    expect(Date.now() - idleFrom).toBeGreaterThanOrEqual(1500);
  }, 60_000);

  it('validates the API, revokes previews, and works from the CLI', async () => {
    const id = sessions.a!.id;
    for (const body of [{ port: 0 }, { port: 70000 }, { port: '8080' }, { port: 8080, extra: 1 }, {}]) {
      const r = await api(`/v1/berth/sessions/${id}/previews`, { method: 'POST', body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.type).toBe('invalid_request_error');
    }
    expect((await api('/v1/berth/sessions/sesn_01JZZZZZZZZZZZZZZZZZZZZZZZ/previews')).status).toBe(404);
    expect((await api('/v1/berth/sessions/nope/previews')).status).toBe(404);

    const list = await api(`/v1/berth/sessions/${id}/previews`);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ type: 'preview', id: previews.a!.id, port: 8080, url: previews.a!.url });
    expect(list.body.data[0]?.token).toBeUndefined();
    expect((await api(`/v1/berth/sessions/${id}/previews/${previews.a!.id}`)).body.port).toBe(8080);

    // A second preview of the same port replaces the first: the old token stops working.
    const again = await api(`/v1/berth/sessions/${id}/previews`, { method: 'POST', body: { port: 8080 } });
    const newToken = again.body.token ?? '';
    expect(newToken).toMatch(/^bpt_/);
    expect(
      (await previewFetch(again.body.url, { headers: { 'x-berth-preview-token': previews.a!.token } })).status,
    ).toBe(403);
    expect((await previewFetch(again.body.url, { headers: { 'x-berth-preview-token': newToken } })).status).toBe(200);
    const del = await api(`/v1/berth/sessions/${id}/previews/${again.body.id}`, { method: 'DELETE' });
    expect(del.body).toEqual({ type: 'preview_deleted', id: again.body.id });
    expect((await previewFetch(again.body.url, { headers: { 'x-berth-preview-token': newToken } })).status).toBe(403);
    expect((await api(`/v1/berth/sessions/${id}/previews/${again.body.id}`, { method: 'DELETE' })).status).toBe(404);

    // The CLI: berth sessions previews create | ls | rm.
    const cli = async (...args: string[]) => {
      const main = resolve(import.meta.dirname, '../packages/cli/dist/main.js');
      const conn = ['--url', t.app.url, '--api-key', t.app.adminKey];
      return promisify(execFile)(process.execPath, [main, 'sessions', 'previews', ...args, ...conn], {
        env: { PATH: process.env.PATH ?? '' },
      }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code?: number; stdout?: string; stderr?: string }) => ({
          code: e.code ?? -1,
          out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
        }),
      );
    };
    const made = await cli('create', id, '8080');
    expect(made.code, made.out).toBe(0);
    const cliToken = /token \(shown once\): (bpt_\S+)/.exec(made.out)?.[1] ?? '';
    const cliId = /^(prev_\S+)/.exec(made.out)?.[1] ?? '';
    expect(made.out).toContain('?berth_token=');
    const viaCli = await previewFetch(again.body.url, { headers: { 'x-berth-preview-token': cliToken } });
    expect(viaCli.body).toContain('site A');
    expect((await cli('ls', id)).out).toContain(cliId);
    expect((await cli('rm', id, cliId)).out).toContain(`revoked ${cliId}`);
    expect((await cli('ls', id)).out).toContain('no previews');
    const refused = await cli('create', id, '9');
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain('listens on port 9');
  }, 30_000);

  it('relays WebSocket upgrades both ways, limits connections, and ends tunnels with the session', async () => {
    const b = previews.b!;
    const wsUrl = b.url.replace('http://', 'ws://');
    const open = (headers: Record<string, string> = { 'x-berth-preview-token': b.token }) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(wsUrl, { headers, lookup: loopback });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    const next = (ws: WebSocket) => new Promise<Buffer>((resolve) => ws.once('message', (m: Buffer) => resolve(m)));

    const ws = await open();
    let reply = next(ws);
    ws.send('hello');
    expect((await reply).toString()).toBe('echo:hello');
    const blob = Buffer.alloc(200_000, 5);
    reply = next(ws);
    ws.send(blob);
    expect((await reply).length).toBe(blob.length + 5);

    await expect(open({})).rejects.toThrow(/401/);
    await expect(open({ 'x-berth-preview-token': previews.a!.token })).rejects.toThrow(/403/);

    // previewMaxConnections is 4: three more fit, the fifth is refused with 429.
    const more = await Promise.all([open(), open(), open()]);
    await expect(open()).rejects.toThrow(/429/);
    for (const m of more) m.close();

    const runDir = join(t.dataDir, 'run');
    const tunnelSockets = () => readdirSync(runDir).filter((d) => existsSync(join(runDir, d, 'tunnel.sock'))).length;
    expect(tunnelSockets()).toBe(2);
    const closedAt = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now())));
    await t.client.beta.sessions.delete(sessions.b!.id);
    const deletedAt = Date.now();
    expect((await closedAt) - deletedAt).toBeLessThan(5000);
    expect(tunnelSockets()).toBe(1);
    const gone = await previewFetch(b.url, { headers: { 'x-berth-preview-token': b.token } });
    expect(gone.status).toBe(403);

    // Left open on purpose: berthd's close() (afterAll) must end upgraded preview connections, not wait for them.
    // (A's earlier preview was replaced and deleted above: make a new one.)
    const a = (await api(`/v1/berth/sessions/${sessions.a!.id}/previews`, { method: 'POST', body: { port: 8080 } }))
      .body;
    const lingering = new WebSocket(a.url.replace('http://', 'ws://'), {
      headers: { 'x-berth-preview-token': a.token ?? '' },
      lookup: loopback,
    });
    await new Promise((resolve, reject) => lingering.once('open', resolve).once('error', reject));
    lingering.on('error', () => undefined);
    // Kept busy, so the idle timeout never ends it: only the shutdown can.
    const busy = setInterval(() => lingering.readyState === WebSocket.OPEN && lingering.send('tick'), 300);
    lingering.once('close', () => clearInterval(busy));
  }, 60_000);
});
