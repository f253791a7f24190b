import net from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Logger } from '../logger.js';
import type { OutboundRequest, RequestRewriter, RewriteResult } from './proxy.js';

/**
 * One git repository a session may fetch with a credential: plain-HTTP requests from the sandbox to `host:port`
 * whose path is `path` or below it get `Authorization: Basic base64(x-access-token:<token>)` (GitHub's form for
 * app and personal tokens; other servers that take a token as the password accept it too). For an `https://`
 * repository the sandbox speaks plain HTTP to the proxy (`transportUrl`, same host and port) and the proxy
 * originates the TLS connection upstream: nothing is ever injected into a tunnel it cannot read (ADR 0006).
 */
export interface GitRoute {
  resourceId: string;
  /** As the user gave it (the clone's `origin`). */
  url: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Repository path without a trailing slash, e.g. `/owner/repo.git`. */
  path: string;
}

/** The URL git inside the sandbox uses for an https repository: `http://host:port/path` (explicit port). */
export function transportUrl(r: GitRoute): string | null {
  if (r.scheme === 'http') return null;
  const host = net.isIPv6(r.host) ? `[${r.host}]` : r.host;
  return `http://${host}:${r.port}${r.path}`;
}

/** True when a request path is the repository path or below it, with no segment that a server could re-interpret. */
export function underRepository(repoPath: string, requestPath: string): boolean {
  const path = requestPath.split('?')[0]!;
  if (path !== repoPath && !path.startsWith(`${repoPath}/`)) return false;
  // `/owner/repo/../other` or encoded dots/slashes would let one repository's token reach another on the same host.
  if (/%2e|%2f|%5c|\\/i.test(path)) return false;
  return !path.split('/').some((s) => s === '.' || s === '..');
}

/**
 * Adds a session's repository tokens at egress and reports the upstream status of each repository's requests (the
 * clone's failure is classified from what the server answered, not from git's wording). Wraps the session's other
 * rewriter (vault credentials), which runs first; for a repository request the repository's credential wins.
 */
export class GitAuthRewriter implements RequestRewriter {
  /** Upstream statuses seen per resource, most recent last (bounded). */
  private readonly statuses = new Map<string, number[]>();

  constructor(
    private readonly routes: readonly GitRoute[],
    /** The current token of a resource (tokens can be replaced while the session runs). */
    private readonly token: (resourceId: string) => string | undefined,
    private readonly log: Logger,
    private readonly next?: RequestRewriter,
  ) {}

  get empty(): boolean {
    return this.routes.length === 0 && (this.next?.empty ?? true);
  }

  wantsBody(): boolean {
    return this.next?.wantsBody() ?? false;
  }

  /** The route a plain-HTTP request belongs to, if any. */
  route(req: Pick<OutboundRequest, 'host' | 'port' | 'path'>): GitRoute | undefined {
    return this.routes.find((r) => r.host === req.host && r.port === req.port && underRepository(r.path, req.path));
  }

  async rewrite(req: OutboundRequest, body: Buffer | null): Promise<RewriteResult> {
    const inner = this.next && !this.next.empty ? await this.next.rewrite(req, body) : { req, body };
    const route = this.route(req);
    if (!route) return inner;
    const headers: OutgoingHttpHeaders = { ...inner.req.headers };
    const token = this.token(route.resourceId);
    if (token !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
      this.log.debug({ resourceId: route.resourceId, host: req.host, port: req.port }, 'repository token added');
    }
    const tls = route.scheme === 'https';
    if (tls) {
      // The Host header of the TLS request: the default port is left out, as a browser or git would send it.
      const h = net.isIPv6(route.host) ? `[${route.host}]` : route.host;
      headers.host = route.port === 443 ? h : `${h}:${route.port}`;
    }
    return { ...inner, req: { ...inner.req, headers }, upstreamTls: tls, tag: route.resourceId };
  }

  onResponse(tag: string | undefined, status: number): void {
    if (tag === undefined) return;
    const list = this.statuses.get(tag) ?? [];
    list.push(status);
    if (list.length > 64) list.shift();
    this.statuses.set(tag, list);
  }

  /** Statuses upstream answered for a resource's requests so far. */
  statusesOf(resourceId: string): readonly number[] {
    return this.statuses.get(resourceId) ?? [];
  }
}
