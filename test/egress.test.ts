import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from './cli-run.js';
import { gvisorTestConfig, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/**
 * Egress through the real proxy path: the real CLI's tools in a bwrap sandbox (only `lo`), the runner's forwarder,
 * berthd's egress proxy, and servers on host loopback addresses. 127.0.0.2 is used for the host's servers because
 * 127.0.0.1 inside a sandbox is the sandbox itself (never proxied); any 127/8 address outside it is the host's.
 */
const PAGE_TOKEN = 'FETCHED-7f3a9c';
const HAS_RUNSC = existsSync('/usr/bin/runsc') || existsSync('/usr/local/bin/runsc');
const run = promisify(execFile);

let dir: string;
let plain: http.Server;
let plainPort: number;
let tls: https.Server;
let tlsPort: number;

async function listen(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as net.AddressInfo).port;
}

function bash(command: string) {
  return { content: [{ type: 'tool_use', name: 'Bash', input: { command } }] };
}

describe.skipIf(e2eSkipReason() !== false)('egress: deny by default, allowlists, audit', () => {
  let t: TestBerth;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-egress-e2e-'));
    // A CA the sandboxes trust (--sandbox-ca-file) and a certificate for the TLS origin at 127.0.0.2, signed by it.
    const f = (n: string) => join(dir, n);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.2\n');
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=berth-test-ca',
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.pem'),
    );
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.2',
      '-keyout',
      f('key.pem'),
      '-out',
      f('leaf.csr'),
    );
    ssl(
      'x509',
      '-req',
      '-in',
      f('leaf.csr'),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      f('cert.pem'),
      '-extfile',
      f('ext.cnf'),
    );
    plain = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      if (req.url === '/page')
        res.end(`<html><body><p>[scenario:fetched-page] The token is ${PAGE_TOKEN}.</p></body></html>`);
      else res.end(`plain-ok ${req.url}`);
    });
    plainPort = await listen(plain, '127.0.0.2');
    const page = `<html><body><p>[scenario:fetched-page] The token is ${PAGE_TOKEN}.</p></body></html>`;
    tls = https.createServer({ key: readFileSync(f('key.pem')), cert: readFileSync(f('cert.pem')) }, (req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(req.url === '/page' ? page : `tls-ok ${req.url}`);
    });
    tlsPort = await listen(tls, '127.0.0.2');
    const curlTurns = [
      bash(`curl -sS http://127.0.0.2:${plainPort}/hello`),
      bash(`curl -sS https://127.0.0.2:${tlsPort}/secure`),
      bash('curl -sS http://denied.example.com/x'),
      bash('curl -sS -v https://denied.example.com/ 2>&1 | grep -E "^< HTTP|curl:"; echo "rc=${PIPESTATUS[0]}"'),
      bash(`curl -sS --noproxy '*' --max-time 3 http://127.0.0.2:${plainPort}/bypass 2>&1; echo "rc=$?"`),
      { content: [{ type: 'text', text: 'Done with curl.' }] },
    ];
    t = await startTestBerth({
      config: {
        sandboxCaFile: f('ca.pem'),
        ...(HAS_RUNSC
          ? {
              ...gvisorTestConfig(700_000),
            }
          : {}),
      },
      scenarios: [
        { name: 'curl-egress', turns: curlTurns },
        {
          name: 'webfetch-egress',
          turns: [
            {
              content: [
                {
                  type: 'tool_use',
                  name: 'WebFetch',
                  input: { url: `https://127.0.0.2:${tlsPort}/page`, prompt: 'What is the token?' },
                },
              ],
            },
            { content: [{ type: 'text', text: 'Fetched.' }] },
          ],
        },
        // The answer to WebFetch's own model call, which carries the page (and so this marker) as its content.
        {
          name: 'fetched-page',
          turns: [{ content: [{ type: 'text', text: `The page says the token is ${PAGE_TOKEN}.` }] }],
          after: 'repeat-last',
        },
      ],
    });
  });
  afterAll(async () => {
    await t?.close();
    plain?.close();
    tls?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function session(networking: object, driver = 'bwrap'): Promise<string> {
    const agent = await t.client.beta.agents.create({
      name: 'e',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = (await t.client.post('/v1/environments', {
      body: { name: 'egress', config: { type: 'cloud', networking }, berth: { driver } },
    })) as { id: string };
    return (await t.client.beta.sessions.create({ agent: agent.id, environment_id: env.id })).id;
  }

  function toolResults(events: Ev[]): string[] {
    return events.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
  }

  type Audit = {
    method: string;
    host: string;
    port: number;
    decision: string;
    rule: string;
    reason: string | null;
    bytes_down: number;
  };
  async function audit(id: string): Promise<Audit[]> {
    const page = (await t.client.get(`/v1/berth/sessions/${id}/egress`)) as { data: Audit[] };
    return page.data;
  }

  it('WebFetch reaches an allowed HTTPS host through the proxy (CONNECT, TLS passed through) and is audited', async () => {
    const id = await session({ type: 'limited', allowed_hosts: [`127.0.0.2:${tlsPort}`] });
    const events = (await collectTurn(t.client, id, () =>
      say(t.client, id, '[scenario:webfetch-egress] fetch'),
    )) as Ev[];
    const [result] = toolResults(events);
    // The token only exists in the page: the CLI fetched it and handed it to its summarising model call.
    expect(result).toContain(PAGE_TOKEN);
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    const rows = await audit(id);
    expect(rows).toContainEqual(
      expect.objectContaining({
        method: 'CONNECT',
        host: '127.0.0.2',
        port: tlsPort,
        decision: 'allowed',
        rule: `allowed_hosts entry '127.0.0.2:${tlsPort}'`,
      }),
    );
    expect(rows.find((r) => r.port === tlsPort)!.bytes_down).toBeGreaterThan(0);
  });

  it('WebFetch to a host the environment does not allow is refused, and the audit names the rule', async () => {
    const id = await session({ type: 'limited', allowed_hosts: [] });
    const events = (await collectTurn(t.client, id, () =>
      say(t.client, id, '[scenario:webfetch-egress] fetch'),
    )) as Ev[];
    const result = events.find((e) => e.type === 'agent.tool_result');
    expect(result).toMatchObject({ is_error: true });
    expect(JSON.stringify(result)).not.toContain(PAGE_TOKEN);
    expect(await audit(id)).toContainEqual(
      expect.objectContaining({
        method: 'CONNECT',
        port: tlsPort,
        decision: 'denied',
        rule: 'ip literal',
        reason: expect.stringContaining(`add '127.0.0.2:${tlsPort}'`) as unknown,
      }),
    );
  });

  it('curl: allowed plain HTTP and HTTPS work; disallowed ones are refused with the rule; bypassing the proxy has no route', async () => {
    const id = await session({ type: 'limited', allowed_hosts: [`127.0.0.2:${plainPort}`, `127.0.0.2:${tlsPort}`] });
    const events = (await collectTurn(t.client, id, () => say(t.client, id, '[scenario:curl-egress] go'))) as Ev[];
    const [plainOk, tlsOk, plainDenied, tlsDenied, bypass] = toolResults(events);
    expect(plainOk).toContain('plain-ok /hello');
    expect(tlsOk).toContain('tls-ok /secure');
    expect(plainDenied).toContain('refused by default deny: denied.example.com:80 is not allowed');
    expect(tlsDenied).toContain('< HTTP/1.1 403 Forbidden (Berth egress: default deny)');
    expect(tlsDenied).toMatch(/CONNECT tunnel failed, response 403[\s\S]*rc=56/);
    expect(bypass).toMatch(/rc=(7|28)/);
    expect(bypass).not.toContain('plain-ok');
    const rows = await audit(id);
    expect(rows.map((r) => [r.method, r.host, r.decision])).toEqual(
      expect.arrayContaining([
        ['GET', '127.0.0.2', 'allowed'],
        ['CONNECT', '127.0.0.2', 'allowed'],
        ['GET', 'denied.example.com', 'denied'],
        ['CONNECT', 'denied.example.com', 'denied'],
      ]),
    );
    // The same audit through the CLI.
    // Async: berthd runs in this process, so a synchronous child would deadlock it.
    const cli = async (...args: string[]) =>
      (
        await run(process.execPath, [
          CLI,
          'sessions',
          'egress',
          id,
          '--url',
          t.app.url,
          '--api-key',
          t.app.adminKey,
          ...args,
        ])
      ).stdout;
    const all = await cli();
    expect(all).toMatch(
      new RegExp(`ALLOW GET +127\\.0\\.0\\.2:${plainPort} +200 +\\d+B up \\d+B down +allowed_hosts entry`),
    );
    const denied = (await cli('--denied')).trim().split('\n');
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatch(
      /DENY +GET +denied\.example\.com:80 +403 .*default deny — denied\.example\.com:80 is not allowed/,
    );
    // Nothing else left the sandbox: the bypass attempt never reached the proxy.
    expect(
      rows.some(
        (r) =>
          r.reason?.includes('bypass') || (r.host === '127.0.0.2' && r.port === plainPort && r.decision === 'denied'),
      ),
    ).toBe(false);
  });

  it.skipIf(!HAS_RUNSC)('the same egress path serves a gVisor sandbox (skipped without runsc)', async () => {
    const id = await session(
      { type: 'limited', allowed_hosts: [`127.0.0.2:${plainPort}`, `127.0.0.2:${tlsPort}`] },
      'gvisor',
    );
    const events = (await collectTurn(t.client, id, () => say(t.client, id, '[scenario:curl-egress] go'))) as Ev[];
    const [plainOk, tlsOk, plainDenied, tlsDenied, bypass] = toolResults(events);
    expect(plainOk).toContain('plain-ok /hello');
    expect(tlsOk).toContain('tls-ok /secure');
    expect(plainDenied).toContain('refused by default deny');
    expect(tlsDenied).toContain('(Berth egress: default deny)');
    expect(bypass).not.toContain('plain-ok');
    expect((await audit(id)).filter((r) => r.decision === 'allowed').length).toBeGreaterThanOrEqual(2);
  });

  it('refuses too-broad and malformed allowed_hosts entries when the environment is created, saying why', async () => {
    for (const [entry, why] of [
      ['*', /every host/],
      ['*.com', /too broad/],
      ['10.0.0.0/8', /address range/],
      ['https://example.com', /not a URL/],
    ] as const) {
      await expect(
        t.client.beta.environments.create({
          name: 'bad',
          config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: [entry] } } as never,
        }),
      ).rejects.toMatchObject({ status: 400, error: { error: { message: expect.stringMatching(why) as unknown } } });
    }
  });
});
