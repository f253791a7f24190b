import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenTargetError, guardedLookup, targetProblem } from './target.js';
import { sendAttempt } from './sender.js';

describe('webhook targets (SSRF defence)', () => {
  it('refuses special-range IP literals and loopback names unless private targets are allowed', () => {
    for (const u of [
      'http://127.0.0.1/x',
      'http://127.0.0.2:8080/',
      'http://10.1.2.3/',
      'http://192.168.0.1/',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[fd00::1]/',
      'http://0.0.0.0/',
      'http://localhost:9/',
      'http://a.localhost/',
    ]) {
      expect(targetProblem(u, false), u).toMatch(/webhook-allow-private-targets/);
      expect(targetProblem(u, true), u).toBeNull();
    }
    expect(targetProblem('https://hooks.example.com/berth', false)).toBeNull();
    expect(targetProblem('http://93.184.215.14/', false)).toBeNull();
  });

  it('refuses URLs that are not plain http(s) whatever the flag', () => {
    expect(targetProblem('ftp://example.com/', true)).toMatch(/http/);
    expect(targetProblem('file:///etc/passwd', true)).toMatch(/http/);
    expect(targetProblem('https://user:pw@example.com/', true)).toMatch(/user:password/);
    expect(targetProblem('not a url', true)).toMatch(/not a URL/);
  });

  it('checks the addresses a name resolves to, at connect time', async () => {
    const err = await new Promise<Error | null>((resolve) =>
      guardedLookup(false)('localhost', { family: 0 }, (e) => resolve(e)),
    );
    expect(err).toBeInstanceOf(ForbiddenTargetError);
    expect(err?.message).toMatch(/localhost resolves to a loopback address/);
    const ok = await new Promise<string>((resolve, reject) =>
      guardedLookup(true)('localhost', { family: 4 }, (e, a) => (e ? reject(e) : resolve(a as string))),
    );
    expect(ok).toMatch(/^127\./);
    // net.connect with autoSelectFamily (Node's default) asks for every address at once.
    const every = await new Promise<unknown>((resolve, reject) =>
      guardedLookup(true)('localhost', { all: true }, (e, a) => (e ? reject(e) : resolve(a))),
    );
    expect(every).toEqual(expect.arrayContaining([expect.objectContaining({ family: expect.any(Number) as unknown })]));
    const refused = await new Promise<Error | null>((resolve) =>
      guardedLookup(false)('localhost', { all: true }, (e) => resolve(e)),
    );
    expect(refused).toBeInstanceOf(ForbiddenTargetError);
  });
});

describe('one delivery attempt', () => {
  const hits: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  let base = '';
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/ok') res.writeHead(204).end();
      else if (req.url === '/redirect') res.writeHead(302, { location: `${base}/ok` }).end();
      else if (req.url === '/fail') res.writeHead(503).end('down for\nmaintenance');
      // '/hang': never answers
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
    base = `http://127.0.0.2:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const opts = { timeoutMs: 2000, allowPrivate: true };

  it('POSTs the body with the given headers and succeeds on 2xx', async () => {
    const r = await sendAttempt(`${base}/ok`, { 'webhook-id': 'whmsg_x' }, '{"a":1}', opts);
    expect(r).toEqual({ ok: true, status: 204, error: null });
    const hit = hits.at(-1)!;
    expect(hit).toMatchObject({ url: '/ok', body: '{"a":1}' });
    expect(hit.headers).toMatchObject({ 'webhook-id': 'whmsg_x', 'content-type': 'application/json' });
  });

  it('does not follow redirects, and logs a failed response with its status and (cleaned) body', async () => {
    const before = hits.length;
    const r = await sendAttempt(`${base}/redirect`, {}, '{}', opts);
    expect(r).toMatchObject({ ok: false, status: 302, error: `redirect to ${base}/ok not followed` });
    expect(hits.length).toBe(before + 1); // /ok was not requested
    expect(await sendAttempt(`${base}/fail`, {}, '{}', opts)).toEqual({
      ok: false,
      status: 503,
      error: 'HTTP 503: down for maintenance',
    });
  });

  it('gives up after the per-attempt timeout, and stops at once when aborted', async () => {
    const t0 = Date.now();
    const r = await sendAttempt(`${base}/hang`, {}, '{}', { ...opts, timeoutMs: 300 });
    expect(r).toEqual({ ok: false, status: null, error: 'timed out after 300 ms' });
    expect(Date.now() - t0).toBeLessThan(2000);
    const ac = new AbortController();
    const p = sendAttempt(`${base}/hang`, {}, '{}', { ...opts, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    expect(await p).toMatchObject({ ok: false, aborted: true });
  });

  it('never connects to a refused target', async () => {
    const before = hits.length;
    const r = await sendAttempt(`${base}/ok`, {}, '{}', { ...opts, allowPrivate: false });
    expect(r).toMatchObject({ ok: false, status: null });
    expect(r.error).toMatch(/^target refused: .*loopback address \(127\.0\.0\.2\)/);
    const named = await sendAttempt(`${base.replace('127.0.0.2', 'localhost')}/ok`, {}, '{}', {
      ...opts,
      allowPrivate: false,
    });
    expect(named.error).toMatch(/loopback/);
    expect(hits.length).toBe(before);
  });
});
