import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real git smart-HTTP server for tests: `git http-backend` (CGI, from `git --exec-path`) behind a small node:http
 * server on a loopback address. It serves bare repositories under `root`:
 * - `/public/<name>.git`: no authentication;
 * - `/private/<name>.git`: needs `Authorization: Basic base64(x-access-token:<token>)`, else 401;
 * - `/forbidden/<name>.git`: always 403.
 * Every request's method, path and Authorization header is recorded in `seen`.
 */
export interface GitServer {
  /** e.g. `http://127.0.0.3:41234` */
  base: string;
  host: string;
  port: number;
  root: string;
  seen: Array<{ method: string; url: string; authorization: string | undefined }>;
  /** Replaces the token `/private/` accepts (token rotation). */
  setToken(token: string): void;
  close(): Promise<void>;
}

const git = (args: string[], cwd?: string) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: cwd ?? tmpdir(),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  }).trim();

/** The commits of a fixture repository made by {@link makeRepo}. */
export interface RepoFixture {
  /** First commit on main. */
  first: string;
  /** Second commit on main (main's head). */
  second: string;
  /** Head of branch `feature` (branches off `first`). */
  feature: string;
}

/**
 * Creates `<root>/<dir>/<name>.git` (bare): main has two commits (README says "one" then "two"), branch `feature` has
 * one commit on top of the first (feature.txt).
 */
export function makeRepo(root: string, dir: string, name: string): RepoFixture {
  const work = mkdtempSync(join(tmpdir(), 'gitw-'));
  try {
    git(['init', '-q', '-b', 'main'], work);
    writeFileSync(join(work, 'README'), 'one\n');
    git(['add', 'README'], work);
    git(['commit', '-q', '-m', 'first'], work);
    const first = git(['rev-parse', 'HEAD'], work);
    writeFileSync(join(work, 'README'), 'two\n');
    git(['commit', '-q', '-am', 'second'], work);
    const second = git(['rev-parse', 'HEAD'], work);
    git(['checkout', '-q', '-b', 'feature', first], work);
    writeFileSync(join(work, 'feature.txt'), 'feature\n');
    git(['add', 'feature.txt'], work);
    git(['commit', '-q', '-m', 'feature'], work);
    const feature = git(['rev-parse', 'HEAD'], work);
    git(['checkout', '-q', 'main'], work);
    mkdirSync(join(root, dir), { recursive: true });
    const bare = join(root, dir, `${name}.git`);
    git(['clone', '-q', '--bare', work, bare]);
    return { first, second, feature };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Starts the server on `host` (a loopback address) with an empty root; add repositories with {@link makeRepo}.
 * With `tls`, it serves HTTPS (`base` is then `https://…`).
 */
export async function startGitServer(
  host: string,
  token: string,
  tls?: { key: string; cert: string },
): Promise<GitServer> {
  const root = mkdtempSync(join(tmpdir(), 'gitsrv-'));
  const backend = join(git(['--exec-path']), 'git-http-backend');
  const basic = (t: string) => `Basic ${Buffer.from(`x-access-token:${t}`).toString('base64')}`;
  let expected = basic(token);
  const seen: GitServer['seen'] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    if (url.pathname.startsWith('/forbidden/')) {
      req.resume();
      res.writeHead(403).end('forbidden\n');
      return;
    }
    if (url.pathname.startsWith('/private/') && req.headers.authorization !== expected) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end('unauthorized\n');
      return;
    }
    const cgi = spawn(backend, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        HOME: root,
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        REMOTE_ADDR: req.socket.remoteAddress ?? '',
        REMOTE_USER: 'x-access-token',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const k = line.slice(0, colon).trim();
        const v = line.slice(colon + 1).trim();
        if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
    cgi.stderr.resume();
    cgi.on('error', () => res.destroy());
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    base: `${tls ? 'https' : 'http'}://${host}:${port}`,
    host,
    port,
    root,
    seen,
    setToken: (t) => (expected = basic(t)),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
