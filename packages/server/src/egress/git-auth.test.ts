import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { openSqlite } from '../store/open.js';
import type { Store } from '../store/store.js';
import { EgressAudit } from './audit.js';
import { GitAuthRewriter, transportUrl, underRepository, type GitRoute } from './git-auth.js';
import { EgressPolicy } from './policy.js';
import { EgressProxy, type EgressListener } from './proxy.js';

const log = createLogger('silent');
const basic = (t: string) => `Basic ${Buffer.from(`x-access-token:${t}`).toString('base64')}`;

describe('repository routes', () => {
  it('match the repository path and below, never a sibling or a path a server could re-interpret', () => {
    expect(underRepository('/o/r.git', '/o/r.git')).toBe(true);
    expect(underRepository('/o/r.git', '/o/r.git/info/refs?service=git-upload-pack')).toBe(true);
    expect(underRepository('/o/r.git', '/o/r.git/git-receive-pack')).toBe(true);
    expect(underRepository('/o/r.git', '/o/r.gitx/info/refs')).toBe(false);
    expect(underRepository('/o/r.git', '/o/other.git/info/refs')).toBe(false);
    expect(underRepository('/o/r.git', '/o/r.git/../other.git/info/refs')).toBe(false);
    expect(underRepository('/o/r.git', '/o/r.git/%2e%2e/other.git')).toBe(false);
    expect(underRepository('/o/r.git', '/o/r.git/..%2fother.git')).toBe(false);
    expect(underRepository('/o/r.git', '/o/r.git/.\\..\\x')).toBe(false);
  });

  it('give https repositories a plain-HTTP transport URL on the same host and port', () => {
    const r = (scheme: 'http' | 'https', host: string, port: number): GitRoute => ({
      resourceId: 'x',
      url: '',
      scheme,
      host,
      port,
      path: '/o/r',
    });
    expect(transportUrl(r('https', 'github.com', 443))).toBe('http://github.com:443/o/r');
    expect(transportUrl(r('https', '::1', 8443))).toBe('http://[::1]:8443/o/r');
    expect(transportUrl(r('http', 'git.example.com', 80))).toBeNull();
  });

  it('are allowed implicitly by the policy, except special-range IP literals', () => {
    const policy = EgressPolicy.compile({
      config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: [] } },
      mcpServers: [],
      repositories: [
        { resourceId: 'sesrsc_a', url: 'https://git.example.com/o/r.git' },
        { resourceId: 'sesrsc_b', url: 'http://127.0.0.9:8080/o/r.git' },
      ],
    });
    expect(policy.decide('git.example.com', 443)).toMatchObject({
      allowed: true,
      rule: "github_repository resource 'sesrsc_a'",
    });
    expect(policy.decide('git.example.com', 80).allowed).toBe(false);
    expect(policy.decide('127.0.0.9', 8080).allowed).toBe(false);
  });
});

/** A TLS git-like origin (self-signed for 127.0.0.2) reached through a real proxy listener. */
describe.skipIf(!hasOpenssl())('the proxy with a repository route', () => {
  let dir: string;
  let store: Store;
  let audit: EgressAudit;
  let origin: https.Server;
  let plain: http.Server;
  let port: number;
  let plainPort: number;
  let listener: EgressListener;
  let socketPath: string;
  let rewriter: GitAuthRewriter;
  let token = 'tok-one-0123456789';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-gitauth-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.2',
        '-addext',
        'subjectAltName=IP:127.0.0.2',
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const answer = (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      const status = req.url?.includes('missing') ? 404 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, host: req.headers.host, auth: req.headers.authorization ?? null }));
    };
    origin = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, answer);
    plain = http.createServer(answer);
    port = await listen(origin);
    plainPort = await listen(plain);
    store = openSqlite(join(dir, 'db.sqlite'));
    await store.migrate();
    audit = new EgressAudit(store, log, () => new Date().toISOString());
    const proxy = new EgressProxy({ audit, logger: log, connectTimeoutMs: 2000, upstreamCa: cert });
    const routes: GitRoute[] = [
      { resourceId: 'sesrsc_tls', url: '', scheme: 'https', host: '127.0.0.2', port, path: '/o/r.git' },
      { resourceId: 'sesrsc_plain', url: '', scheme: 'http', host: '127.0.0.2', port: plainPort, path: '/o/p.git' },
    ];
    rewriter = new GitAuthRewriter(routes, () => token, log);
    const policy = EgressPolicy.compile({
      config: {
        type: 'cloud',
        networking: { type: 'limited', allowed_hosts: [`127.0.0.2:${port}`, `127.0.0.2:${plainPort}`] },
      },
      mcpServers: [],
    });
    socketPath = join(dir, 'egress.sock');
    listener = await proxy.listen(socketPath, { sessionId: newId('session'), policy, rewriter });
  });

  afterAll(async () => {
    await listener?.close();
    origin?.close();
    plain?.close();
    await audit?.flush();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('originates TLS for an https repository and adds the current token; other paths get none', async () => {
    const r1 = await get(socketPath, `http://127.0.0.2:${port}/o/r.git/info/refs?service=git-upload-pack`);
    expect(r1.status).toBe(200);
    expect(JSON.parse(r1.body)).toEqual({
      url: '/o/r.git/info/refs?service=git-upload-pack',
      host: `127.0.0.2:${port}`,
      auth: basic(token),
    });
    token = 'tok-two-0123456789';
    const r2 = await get(socketPath, `http://127.0.0.2:${port}/o/r.git/git-upload-pack`);
    expect((JSON.parse(r2.body) as { auth: string }).auth).toBe(basic(token));
    // Outside the repository: no TLS (so the TLS port answers garbage or closes), and no token either way.
    const r3 = await get(socketPath, `http://127.0.0.2:${port}/o/other.git/info/refs`);
    expect(r3.body).not.toContain('tok-');
    const p1 = await get(socketPath, `http://127.0.0.2:${plainPort}/o/p.git/info/refs`);
    expect((JSON.parse(p1.body) as { auth: string }).auth).toBe(basic(token));
    const p2 = await get(socketPath, `http://127.0.0.2:${plainPort}/o/p.git/../q.git/info/refs`);
    expect(JSON.parse(p2.body)).toMatchObject({ url: '/o/q.git/info/refs', auth: null });
    await get(socketPath, `http://127.0.0.2:${plainPort}/o/p.git/missing`);
    expect(rewriter.statusesOf('sesrsc_tls')).toEqual([200, 200]);
    expect(rewriter.statusesOf('sesrsc_plain')).toEqual([200, 404]);
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  return (server.address() as net.AddressInfo).port;
}

function get(socketPath: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? resolve({ status: 0, body: '' }) : reject(err)));
    req.end();
  });
}
