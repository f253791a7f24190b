import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logCapture, collectTurn, e2eSkipReason, say, startTestBerth, filesUnder, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/**
 * Vault credentials injected at egress: the sandbox holds placeholders only, the proxy swaps them (and adds the MCP
 * bearer) on the way out. The origin never echoes what it receives: it answers ok/bad, so no secret flows back in.
 */
const PREFIX = 'sk-vault-test-';
const secret = () => `${PREFIX}${randomBytes(12).toString('hex')}`;
const S = { api: secret(), body: secret(), locked: secret(), bearer: secret() };

describe.skipIf(e2eSkipReason() !== false)('vault credentials are injected at egress, never in the sandbox', () => {
  let t: TestBerth;
  let origin: http.Server;
  let port: number;
  const logs = logCapture();
  const seen: string[] = [];

  beforeAll(async () => {
    origin = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(JSON.stringify({ url: req.url, headers: req.headers, body }));
        const auth = req.headers.authorization;
        const verdict = (ok: boolean) => (ok ? 'ok' : 'bad');
        if (req.url === '/check') res.end(`auth=${verdict(auth === `Bearer ${S.api}`)}`);
        else if (req.url === '/locked') res.end(`locked=${verdict(req.headers['x-key'] === S.locked)}`);
        else if (req.url?.startsWith('/mcp/')) res.end(`bearer=${verdict(auth === `Bearer ${S.bearer}`)}`);
        else if (req.url === '/body') res.end(`body=${verdict(body === `token=${S.body}`)}`);
        else res.end('unknown');
      });
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.2', r));
    port = (origin.address() as net.AddressInfo).port;
    const bash = (command: string) => ({ content: [{ type: 'tool_use', name: 'Bash', input: { command } }] });
    const logStream = logs.stream;
    t = await startTestBerth({
      logStream,
      config: { logLevel: 'debug' },
      scenarios: [
        {
          name: 'vault-egress',
          turns: [
            bash('echo "api=$API_TOKEN"'),
            bash(`curl -sS -H "Authorization: Bearer $API_TOKEN" http://127.0.0.2:${port}/check`),
            bash(`curl -sS -H "X-Key: $LOCKED_TOKEN" http://127.0.0.2:${port}/locked`),
            bash(`curl -sS http://127.0.0.2:${port}/mcp/tools`),
            bash(`curl -sS --data "token=$BODY_TOKEN" http://127.0.0.2:${port}/body`),
            // The prefix is split so that this command's own text (kept in the transcript) does not match.
            bash(
              'P=sk-vault; echo "matches=$(grep -rsl "$P-test-" /workspace /home /run/berth /tmp /proc/self/environ | wc -l)"',
            ),
            { content: [{ type: 'text', text: 'Checked.' }] },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    await t?.close();
    origin?.close();
  });

  it('swaps placeholders for allowed hosts, adds the MCP bearer, and no secret reaches the sandbox, the API or the log', async () => {
    const vault = await t.client.beta.vaults.create({ display_name: 'egress' });
    const creds = t.client.beta.vaults.credentials;
    const envCred = (name: string, value: string, hosts: string[], body = false) =>
      creds.create(vault.id, {
        auth: {
          type: 'environment_variable',
          secret_name: name,
          secret_value: value,
          injection_location: { header: true, body },
          networking: { type: 'limited', allowed_hosts: hosts },
        },
      } as never);
    await envCred('API_TOKEN', S.api, ['127.0.0.2']);
    await envCred('BODY_TOKEN', S.body, ['127.0.0.2'], true);
    // Only for another host: its placeholder must reach 127.0.0.2 unchanged.
    await envCred('LOCKED_TOKEN', S.locked, ['api.example.com']);
    await creds.create(vault.id, {
      auth: { type: 'static_bearer', mcp_server_url: `http://127.0.0.2:${port}/mcp`, token: S.bearer },
    });
    const agent = await t.client.beta.agents.create({
      name: 'v',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await t.client.beta.environments.create({
      name: 'v',
      config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: [`127.0.0.2:${port}`] } },
    });
    const session = await t.client.beta.sessions.create({
      agent: agent.id,
      environment_id: env.id,
      vault_ids: [vault.id],
    });
    const events = (await collectTurn(t.client, session.id, () =>
      say(t.client, session.id, '[scenario:vault-egress] go'),
    )) as Ev[];
    const results = events.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
    expect(results).toHaveLength(6);
    const [echo, check, locked, bearer, body, grep] = results as [string, string, string, string, string, string];
    expect(echo).toMatch(/api=berth_placeholder_[0-9a-f]{32}/);
    expect(check).toContain('auth=ok');
    expect(locked).toContain('locked=bad');
    expect(seen.find((s) => s.includes('"/locked"'))).toMatch(/"x-key":"berth_placeholder_[0-9a-f]{32}"/);
    expect(bearer).toContain('bearer=ok');
    expect(body).toContain('body=ok');
    expect(grep).toContain('matches=0');
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });

    // Host side: no secret in the sandbox's directories, the event history, or berthd's log.
    const s = (await t.client.beta.sessions.retrieve(session.id)) as unknown as { berth: { sandbox: { id: string } } };
    const info = await t.app.driver.inspect(s.berth.sandbox.id);
    const dirs = [info!.workspaceDir, info!.homeDir, join(t.dataDir, 'run', s.berth.sandbox.id)];
    const files = dirs.flatMap((d) => filesUnder(d));
    expect(files.length).toBeGreaterThan(0);
    const history = JSON.stringify((await t.client.beta.sessions.events.list(session.id, { limit: 1000 })).data);
    for (const value of Object.values(S)) {
      for (const f of files) expect(readFileSync(f, 'latin1').includes(value), f).toBe(false);
      expect(history.includes(value)).toBe(false);
      expect(logs.text().includes(value)).toBe(false);
    }
    expect(logs.text()).toContain('vault credentials injected');
  });
});
