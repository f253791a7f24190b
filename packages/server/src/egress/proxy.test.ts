import { mkdtempSync, rmSync } from 'node:fs';
import http, { type Server } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { openSqlite } from '../store/open.js';
import type { Store } from '../store/store.js';
import { EgressAudit } from './audit.js';
import { EgressPolicy } from './policy.js';
import { EgressProxy, parseAuthority, type EgressListener, type RequestRewriter } from './proxy.js';

/**
 * The proxy against real servers on loopback addresses (127.0.0.2 and .3 are the host's, like any of 127/8), with
 * the client talking to the proxy's unix socket exactly as the in-sandbox forwarder does.
 */
let dir: string;
let store: Store;
let audit: EgressAudit;
let origin: Server;
let originPort: number;
let echo: net.Server;
let echoPort: number;
const servers: EgressListener[] = [];
const sessionId = newId('session');

async function listen(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-egress-'));
  store = openSqlite(join(dir, 'db.sqlite'));
  await store.migrate();
  audit = new EgressAudit(store, createLogger('silent'), () => new Date().toISOString());
  origin = http.createServer((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { location: 'http://127.0.0.3:1/elsewhere' });
      res.end();
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          url: req.url,
          host: req.headers.host,
          auth: req.headers.authorization ?? null,
          body,
          proxyAuth: req.headers['proxy-authorization'] ?? null,
        }),
      );
    });
  });
  originPort = await listen(origin, '127.0.0.2');
  echo = net.createServer((s) => s.pipe(s));
  echoPort = await listen(echo, '127.0.0.2');
});

afterAll(async () => {
  for (const s of servers) await s.close();
  origin.close();
  echo.close();
  await audit.flush();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startProxy(
  allowed: string[],
  opts: { resolve?: (h: string) => Promise<string[]>; rewriter?: RequestRewriter } = {},
): Promise<string> {
  const proxy = new EgressProxy({
    audit,
    logger: createLogger('silent'),
    resolve: opts.resolve ?? (async () => ['127.0.0.2']),
    connectTimeoutMs: 2000,
  });
  const path = join(dir, `p${servers.length}.sock`);
  const policy = EgressPolicy.compile({
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: allowed } },
    mcpServers: [],
  });
  servers.push(await proxy.listen(path, { sessionId, policy, rewriter: opts.rewriter }));
  return path;
}

function get(
  socketPath: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path: url, method: 'POST', headers: { host: new URL(url).host, ...headers } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end('payload');
  });
}

function connect(
  socketPath: string,
  authority: string,
): Promise<{ status: number; socket: net.Socket; body: string; rule: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'CONNECT', path: authority });
    // Node reports every answer to a CONNECT (refusals too) as 'connect'; a refusal's body follows on the socket.
    req.on('connect', (res, socket, head) => {
      const out = { status: res.statusCode!, socket, rule: res.headers['x-berth-egress-rule'] as string | undefined };
      if (res.statusCode === 200) return resolve({ ...out, body: '' });
      let body = head.toString();
      socket.on('data', (c: Buffer) => (body += c.toString()));
      socket.on('end', () => resolve({ ...out, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function auditRows() {
  await audit.flush();
  return (await store.listEgress(sessionId, { limit: 1000 })).data;
}

describe('egress proxy', () => {
  it('forwards an allowed plain HTTP request, fixing Host and dropping proxy headers, and audits bytes', async () => {
    const p = await startProxy([`127.0.0.2:${originPort}`]);
    const r = await get(p, `http://127.0.0.2:${originPort}/a?b=1`, {
      'proxy-authorization': 'Basic x',
      host: 'evil.example',
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({
      url: '/a?b=1',
      host: `127.0.0.2:${originPort}`,
      body: 'payload',
      proxyAuth: null,
    });
    const row = (await auditRows()).find(
      (x) => x.method === 'POST' && x.port === originPort && x.decision === 'allowed',
    );
    expect(row).toMatchObject({ host: '127.0.0.2', status: 200, bytes_up: 7, address: '127.0.0.2' });
    expect(row!.bytes_down).toBe(Buffer.byteLength(r.body));
  });

  it('refuses a host that is not allowed with 403, the rule and the reason', async () => {
    const p = await startProxy(['api.example.com']);
    const r = await get(p, 'http://other.example.com/');
    expect(r.status).toBe(403);
    expect(r.headers['x-berth-egress-rule']).toBe('default deny');
    expect(r.body).toMatch(/refused by default deny: other\.example\.com:80 is not allowed/);
    expect(
      (await auditRows()).some((x) => x.host === 'other.example.com' && x.decision === 'denied' && x.status === 403),
    ).toBe(true);
  });

  it('does not follow redirects: the client’s next request to a disallowed host is refused on its own', async () => {
    const p = await startProxy([`127.0.0.2:${originPort}`]);
    const r = await get(p, `http://127.0.0.2:${originPort}/redirect`);
    expect(r.status).toBe(302);
    const next = await get(p, r.headers.location!);
    expect(next.status).toBe(403);
    expect(next.body).toMatch(/IP-literal targets are refused \(127\.0\.0\.3 is loopback\)/);
  });

  it('refuses an allowed name that resolves to a special range (DNS rebinding to loopback or metadata)', async () => {
    const p = await startProxy(['rebind.example.com'], { resolve: async () => ['93.184.216.34', '169.254.169.254'] });
    const r = await connect(p, 'rebind.example.com:443');
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/resolves to 169\.254\.169\.254 \(link-local\/metadata\)/);
    r.socket.destroy();
  });

  it('tunnels an allowed CONNECT byte for byte and audits both directions', async () => {
    const p = await startProxy([`127.0.0.2:${echoPort}`]);
    const r = await connect(p, `127.0.0.2:${echoPort}`);
    expect(r.status).toBe(200);
    const reply = await new Promise<string>((resolve) => {
      let got = '';
      r.socket.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.length >= 11) resolve(got);
      });
      r.socket.write('hello tunnel');
    });
    expect(reply).toBe('hello tunnel');
    r.socket.destroy();
    await new Promise((res) => setTimeout(res, 50));
    const row = (await auditRows()).find((x) => x.method === 'CONNECT' && x.port === echoPort);
    expect(row).toMatchObject({ decision: 'allowed', status: 200, bytes_up: 12, bytes_down: 12 });
  });

  it('refuses CONNECT to a disallowed target, to an unlisted port, and malformed authorities', async () => {
    const p = await startProxy([`127.0.0.2:${echoPort}`]);
    for (const target of [`127.0.0.2:${echoPort + 1}`, '10.0.0.1:443', 'metadata.google.internal:80']) {
      const r = await connect(p, target);
      expect(r.status, target).toBe(403);
      expect(r.rule).toBeTruthy();
      r.socket.destroy();
    }
    const bad = await connect(p, 'no-port');
    expect(bad.status).toBe(400);
    bad.socket.destroy();
  });

  it('survives a client that goes away before reading a refusal (no uncaught EPIPE/ECONNRESET)', async () => {
    const p = await startProxy([]);
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onError);
    try {
      for (let i = 0; i < 5; i++) {
        await new Promise<void>((resolve) => {
          const s = net.createConnection({ path: p }, () => {
            // Gone before the refusal is written: the proxy's write then fails (EPIPE/ECONNRESET on a unix socket).
            s.write('CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: 169.254.169.254:80\r\n\r\n', () => s.destroy());
          });
          s.on('close', () => resolve());
          s.on('error', () => undefined);
        });
      }
      await new Promise((r) => setTimeout(r, 100));
      // The proxy still answers.
      expect((await get(p, 'http://denied.example.com/')).status).toBe(403);
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toEqual([]);
  });

  it('closes with a tunnel still open: close() destroys it instead of waiting for the peer', async () => {
    const proxy = new EgressProxy({ audit, logger: createLogger('silent'), connectTimeoutMs: 2000 });
    const policy = EgressPolicy.compile({
      config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: [`127.0.0.2:${echoPort}`] } },
      mcpServers: [],
    });
    const listener = await proxy.listen(join(dir, 'close.sock'), { sessionId, policy });
    const r = await connect(join(dir, 'close.sock'), `127.0.0.2:${echoPort}`);
    expect(r.status).toBe(200);
    const closed = new Promise<void>((resolve) => r.socket.on('close', () => resolve()));
    await listener.close();
    await closed;
  });

  it('answers origin-form requests (someone calling the proxy directly) with 400 and a hint', async () => {
    const p = await startProxy([]);
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ socketPath: p, path: '/' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        })
        .on('error', reject);
    });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/set HTTP_PROXY/);
  });

  it('reports an unreachable upstream as 502 and audits the failure', async () => {
    // A port that was just free: listened on, then closed, so nothing answers there.
    const tmp = net.createServer();
    const closed = await listen(tmp, '127.0.0.2');
    await new Promise<void>((r) => tmp.close(() => r()));
    const p = await startProxy([`127.0.0.2:${closed}`]);
    const r = await get(p, `http://127.0.0.2:${closed}/`);
    expect(r.status).toBe(502);
    expect(r.body).toMatch(/ECONNREFUSED/);
    const row = (await auditRows()).find((x) => x.port === closed);
    expect(row).toMatchObject({
      decision: 'allowed',
      status: 502,
      reason: expect.stringMatching(/ECONNREFUSED/) as unknown,
    });
  });

  it('lets a rewrite hook change an allowed plain request (credential injection)', async () => {
    const p = await startProxy([`127.0.0.2:${originPort}`], {
      rewriter: {
        empty: false,
        wantsBody: () => true,
        rewrite: async (req, body) => ({
          req: { ...req, headers: { ...req.headers, authorization: 'Bearer injected', 'content-length': '8' } },
          body: Buffer.from(body!.toString().toUpperCase() + '!'),
        }),
      },
    });
    const r = await get(p, `http://127.0.0.2:${originPort}/x`, { 'content-length': '7' });
    expect(JSON.parse(r.body)).toMatchObject({ auth: 'Bearer injected', body: 'PAYLOAD!' });
    // A rewriter that throws (an undecryptable credential) refuses the request: fail closed.
    const closed = await startProxy([`127.0.0.2:${originPort}`], {
      rewriter: {
        empty: false,
        wantsBody: () => false,
        rewrite: () => Promise.reject(new Error('credential x cannot be decrypted')),
      },
    });
    const refused = await get(closed, `http://127.0.0.2:${originPort}/x`);
    expect(refused.status).toBe(502);
    expect(refused.body).toContain('credential x cannot be decrypted');
  });
});

describe('parseAuthority', () => {
  it.each([
    ['example.com:443', { host: 'example.com', port: 443 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['example.com', null],
    ['example.com:0', null],
    ['example.com:99999', null],
    ['a b:1', null],
  ])('%s', (input, expected) => expect(parseAuthority(input)).toEqual(expected));
});
