import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareRepository } from '../packages/runner/src/repository.js';
import { createLogger as runnerLogger } from '../packages/runner/src/log.js';
import { EgressAudit } from '../packages/server/src/egress/audit.js';
import { GitAuthRewriter, transportUrl, type GitRoute } from '../packages/server/src/egress/git-auth.js';
import { EgressPolicy } from '../packages/server/src/egress/policy.js';
import { EgressProxy, type EgressListener } from '../packages/server/src/egress/proxy.js';
import { createLogger } from '../packages/server/src/logger.js';
import { openSqlite } from '../packages/server/src/store/open.js';
import type { Store } from '../packages/server/src/store/store.js';
import { makeRepo, startGitServer, type GitServer, type RepoFixture } from './git-server.js';

/**
 * The `https://` path end to end, without a sandbox: the runner's clone code (real git) → a TCP relay standing in
 * for the in-sandbox forwarder → berthd's egress proxy with a repository route → TLS it originates → `git
 * http-backend` behind HTTPS (self-signed for 127.0.0.5, trusted by the proxy only). Sandboxed clones are covered by
 * git-resources.test.ts over plain HTTP; this is the TLS origination and the `insteadOf` the clone keeps.
 */
const TOKEN = `gittok-${Math.random().toString(36).slice(2)}0123456789`;

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasOpenssl())('an https:// repository through the egress proxy', () => {
  let dir: string;
  let git: GitServer;
  let repo: RepoFixture;
  let store: Store;
  let audit: EgressAudit;
  let listener: EgressListener;
  let relay: net.Server;
  let proxyUrl: string;
  let route: GitRoute;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-githttps-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'].concat([
        '-subj',
        '/CN=127.0.0.5',
        '-addext',
        'subjectAltName=IP:127.0.0.5',
      ]),
      { stdio: 'ignore' },
    );
    const pem = readFileSync(cert, 'utf8');
    git = await startGitServer('127.0.0.5', TOKEN, { key: readFileSync(key, 'utf8'), cert: pem });
    repo = makeRepo(git.root, 'private', 'repo');
    store = openSqlite(join(dir, 'db.sqlite'));
    await store.migrate();
    const log = createLogger('silent');
    audit = new EgressAudit(store, log, () => new Date().toISOString());
    const url = `${git.base}/private/repo.git`;
    route = {
      resourceId: 'sesrsc_x',
      url,
      scheme: 'https',
      host: '127.0.0.5',
      port: git.port,
      path: '/private/repo.git',
    };
    const proxy = new EgressProxy({ audit, logger: log, upstreamCa: pem });
    const policy = EgressPolicy.compile({
      config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: [`127.0.0.5:${git.port}`] } },
      mcpServers: [],
    });
    const socket = join(dir, 'egress.sock');
    listener = await proxy.listen(socket, {
      sessionId: newId('session'),
      policy,
      rewriter: new GitAuthRewriter([route], () => TOKEN, log),
    });
    relay = net.createServer((c) => {
      const u = net.createConnection({ path: socket });
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
  });

  afterAll(async () => {
    relay?.close();
    await listener?.close();
    await git?.close();
    await audit?.flush();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('clones over TLS made by the proxy, keeps origin as the https URL and the token out of .git/config', async () => {
    const path = join(dir, 'clone', 'repo');
    const answer = await prepareRepository(
      {
        type: 'prepare_repository',
        session_id: newId('session'),
        request_id: 'r1',
        url: route.url,
        transport_url: transportUrl(route),
        path,
        checkout: { type: 'branch', name: 'feature' },
      },
      { proxyUrl, path: process.env.PATH ?? '/usr/bin:/bin', home: dir, log: runnerLogger({ level: 'error' }) },
    );
    expect(answer).toMatchObject({ ok: true, head: repo.feature });
    const config = readFileSync(join(path, '.git', 'config'), 'utf8');
    expect(config).toContain(`url = ${route.url}`);
    expect(config).toContain(`[url "http://127.0.0.5:${git.port}/private/repo.git"]`);
    expect(config).not.toContain(TOKEN);
    expect(git.seen.length).toBeGreaterThan(0);
    expect(
      git.seen.every((s) => s.authorization === `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`),
    ).toBe(true);
  });
});
