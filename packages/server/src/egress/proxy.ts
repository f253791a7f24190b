import { lookup } from 'node:dns/promises';
import { chmod, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import type { EgressAudit } from './audit.js';
import { normaliseHost, type EgressPolicy } from './policy.js';
import { parseAuthority, readBody, refuse, sendRefusal } from './wire.js';

export { parseAuthority } from './wire.js';

/** A plain HTTP request on its way out, as a rewrite hook sees it. */
export interface OutboundRequest {
  host: string;
  port: number;
  /** Path and query. */
  path: string;
  headers: OutgoingHttpHeaders;
}

/** What a rewriter made of a request. */
export interface RewriteResult {
  req: OutboundRequest;
  body: Buffer | null;
  /**
   * Send it over TLS to the same host and port (verified against the default CAs, SNI = host). Only a git repository
   * route asks for this (egress/git-auth.ts): the sandbox speaks plain HTTP to the proxy for that repository alone.
   */
  upstreamTls?: boolean;
  /** Handed back to `onResponse` with the upstream status. */
  tag?: string;
}

/**
 * Rewrites allowed plain-HTTP requests before they leave (vault credential injection, see inject.ts; repository
 * tokens, see git-auth.ts). TLS tunnels pass through untouched: nothing can be injected into them.
 */
export interface RequestRewriter {
  /** True when it would never change anything (the hook is skipped). */
  readonly empty: boolean;
  /** True when request bodies should be buffered (up to MAX_INJECT_BODY) so that it can change them. */
  wantsBody(): boolean;
  /** The request to send; may throw to refuse it (e.g. a credential that cannot be decrypted: fail closed). */
  rewrite(req: OutboundRequest, body: Buffer | null): Promise<RewriteResult>;
  /** The upstream status of a request whose rewrite returned `tag`. */
  onResponse?(tag: string | undefined, status: number): void;
}

/** One sandbox's listener. */
export interface EgressListener {
  server: Server;
  /** Stops listening and destroys every connection, tunnels included. */
  close(): Promise<void>;
}

/** One sandbox's view of the proxy. */
export interface EgressSessionContext {
  sessionId: string;
  policy: EgressPolicy;
  rewriter?: RequestRewriter | undefined;
}

/** Largest request body buffered for a rewriter; larger or chunked bodies stream through unchanged. */
export const MAX_REWRITE_BODY = 1024 * 1024;

export interface EgressProxyDeps {
  audit: EgressAudit;
  logger: Logger;
  /** Name resolution (all addresses); the host's resolver by default. Sandboxes have no DNS of their own. */
  resolve?: (host: string) => Promise<string[]>;
  connectTimeoutMs?: number;
  /** CA certificates for TLS the proxy originates (repository routes); node's default store when absent. */
  upstreamCa?: string | undefined;
}

/** Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1, plus the proxy's own). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** What a refusal records and says. */
interface Refusal {
  method: string;
  host: string;
  port: number;
  status: number;
  rule: string;
  reason: string;
}

type Target = { ok: true; address: string; rule: string } | { ok: false; status: number; rule: string; reason: string };

/**
 * The egress proxy: an HTTP proxy (CONNECT tunnels and absolute-form plain HTTP) with one unix-socket listener per
 * sandbox, reached only through the runner's in-sandbox forwarder. Deny by default: every request is decided by
 * the session's {@link EgressPolicy}, names are resolved here (the sandbox has no DNS) and the resolved address is
 * checked again and is the one connected to, so a name cannot be re-pointed between check and use. Every
 * decision is audited with its byte counts.
 */
export class EgressProxy {
  private readonly resolve: (host: string) => Promise<string[]>;

  constructor(private readonly deps: EgressProxyDeps) {
    this.resolve =
      deps.resolve ?? (async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address));
  }

  /** Starts a listener for one sandbox at `path` (a unix socket the sandbox uid may connect to). */
  async listen(path: string, ctx: EgressSessionContext): Promise<EgressListener> {
    await rm(path, { force: true });
    const log = this.deps.logger.child({ sessionId: ctx.sessionId, component: 'egress' });
    const server = http.createServer();
    // Every socket, tunnels included: closeAllConnections() only knows HTTP connections, and a tunnel handed over by
    // CONNECT would otherwise keep close() waiting for as long as its peer keeps it half open.
    const sockets = new Set<net.Socket>();
    server.on('connection', (s: net.Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
      // Node hands CONNECT and upgrade sockets over without an 'error' listener: a peer that resets the connection
      // (found by the escape suite: SO_LINGER 0 before reading a refusal) would otherwise crash berthd.
      client.on('error', (err) => log.debug({ err }, 'egress client socket error'));
      void this.onConnect(ctx, req, client, head).catch((err: unknown) => {
        log.error({ err }, 'egress CONNECT failed unexpectedly');
        client.destroy();
      });
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.onRequest(ctx, req, res).catch((err: unknown) => {
        log.error({ err }, 'egress request failed unexpectedly');
        res.destroy();
      });
    });
    server.on('upgrade', (req: IncomingMessage, client: Duplex) => {
      client.on('error', (err) => log.debug({ err }, 'egress client socket error'));
      const reason = 'protocol upgrades over plain HTTP are not proxied; use wss:// (CONNECT)';
      this.deny(ctx, client, {
        method: req.method ?? 'GET',
        host: '-',
        port: 0,
        status: 501,
        rule: 'unsupported',
        reason,
      });
    });
    server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o666);
    return {
      server,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        }),
    };
  }

  /** Decides and resolves a target; the policy's answer plus the address to connect to. */
  private async target(ctx: EgressSessionContext, host: string, port: number): Promise<Target> {
    const d = ctx.policy.decide(host, port);
    if (!d.allowed) return { ok: false, status: 403, rule: d.rule, reason: d.reason };
    const h = normaliseHost(host)!;
    if (net.isIP(h) !== 0) return { ok: true, address: h, rule: d.rule };
    let addresses: string[];
    try {
      addresses = await this.resolve(h);
    } catch (err) {
      return {
        ok: false,
        status: 502,
        rule: d.rule,
        reason: `${h} could not be resolved (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      };
    }
    if (addresses.length === 0) return { ok: false, status: 502, rule: d.rule, reason: `${h} has no addresses` };
    const bad = ctx.policy.checkResolved(h, addresses);
    if (bad && !bad.allowed) return { ok: false, status: 403, rule: bad.rule, reason: bad.reason };
    return { ok: true, address: addresses[0]!, rule: d.rule };
  }

  private async onConnect(
    ctx: EgressSessionContext,
    req: IncomingMessage,
    client: Duplex,
    head: Buffer,
  ): Promise<void> {
    const started = performance.now();
    const parsed = parseAuthority(req.url ?? '');
    if (!parsed) {
      const reason = `CONNECT needs host:port, got '${req.url ?? ''}'`;
      this.deny(ctx, client, {
        method: 'CONNECT',
        host: req.url ?? '',
        port: 0,
        status: 400,
        rule: 'invalid target',
        reason,
      });
      return;
    }
    const { host, port } = parsed;
    const t = await this.target(ctx, host, port);
    if (!t.ok) {
      this.deny(ctx, client, { method: 'CONNECT', host, port, status: t.status, rule: t.rule, reason: t.reason });
      return;
    }
    const id = this.deps.audit.record(ctx.sessionId, {
      method: 'CONNECT',
      host,
      port,
      decision: 'allowed',
      rule: t.rule,
      reason: null,
      status: null,
    });
    const upstream = net.connect({ host: t.address, port, noDelay: true });
    const timer = setTimeout(
      () => upstream.destroy(new Error('connect timed out')),
      this.deps.connectTimeoutMs ?? 10_000,
    );
    let established = false;
    let failure: string | null = null;
    upstream.once('connect', () => {
      clearTimeout(timer);
      established = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err) => {
      clearTimeout(timer);
      failure ??= `upstream ${t.address}:${port}: ${err.message}`;
      if (!established) refuse(client, 502, t.rule, failure);
      else client.destroy();
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      clearTimeout(timer);
      if (established && !upstream.readableEnded) client.destroy();
      this.deps.audit.finish(id, {
        address: t.address,
        status: established ? 200 : 502,
        reason: failure,
        bytes_up: upstream.bytesWritten,
        bytes_down: upstream.bytesRead,
        duration_ms: Math.round(performance.now() - started),
      });
    });
  }

  private async onRequest(ctx: EgressSessionContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    let url: URL | null = null;
    try {
      url = new URL(req.url ?? '');
    } catch {
      url = null;
    }
    if (!url || url.protocol !== 'http:') {
      const reason = url
        ? `only http:// URLs are proxied as plain requests; ${url.protocol}// goes through CONNECT`
        : 'this is the Berth egress proxy: send absolute-form requests (set HTTP_PROXY), not origin-form';
      this.deny(ctx, res, {
        method,
        host: url?.hostname ?? '-',
        port: 0,
        status: 400,
        rule: 'invalid request',
        reason,
      });
      req.resume();
      return;
    }
    const host = url.hostname;
    const port = url.port ? Number(url.port) : 80;
    const t = await this.target(ctx, host, port);
    if (!t.ok) {
      this.deny(ctx, res, { method, host, port, status: t.status, rule: t.rule, reason: t.reason });
      req.resume();
      return;
    }
    const id = this.deps.audit.record(ctx.sessionId, {
      method,
      host,
      port,
      decision: 'allowed',
      rule: t.rule,
      reason: null,
      status: null,
    });
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    // The Host header is the URL's authority: a client cannot aim an allowed connection at another virtual host.
    headers.host = url.host;
    let out: OutboundRequest = { host: normaliseHost(host)!, port, path: `${url.pathname}${url.search}`, headers };
    let body: Buffer | null = null;
    let up = 0;
    let tls = false;
    let tag: string | undefined;
    const rw = ctx.rewriter;
    if (rw && !rw.empty) {
      const length = Number(req.headers['content-length'] ?? NaN);
      if (rw.wantsBody() && Number.isInteger(length) && length <= MAX_REWRITE_BODY) {
        body = await readBody(req);
        up = body.length;
      }
      try {
        const r = await rw.rewrite(out, body);
        ({ req: out, body, tag } = r);
        tls = r.upstreamTls === true;
      } catch (err) {
        const reason = `the request could not be prepared: ${(err as Error).message}`;
        this.deps.audit.finish(id, { status: 502, reason, duration_ms: Math.round(performance.now() - started) });
        sendRefusal(res, 502, t.rule, reason);
        req.resume();
        return;
      }
    }
    let down = 0;
    let status: number | null = null;
    let failure: string | null = null;
    const options = {
      host: t.address,
      port,
      method,
      path: out.path,
      headers: out.headers,
      agent: false as const,
      timeout: this.deps.connectTimeoutMs ?? 10_000,
    };
    const upstream = tls
      ? https.request({
          ...options,
          // The certificate must be valid for the name the sandbox asked for, not for the address it resolved to.
          ...(net.isIP(out.host) === 0 ? { servername: out.host } : {}),
          ...(this.deps.upstreamCa ? { ca: this.deps.upstreamCa } : {}),
        })
      : http.request(options);
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('response', (upRes) => {
      upstream.setTimeout(0);
      status = upRes.statusCode ?? 502;
      rw?.onResponse?.(tag, status);
      const h: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) h[k] = v;
      res.writeHead(status, upRes.statusMessage, h);
      upRes.on('data', (c: Buffer) => (down += c.length));
      upRes.pipe(res);
    });
    upstream.on('error', (err) => {
      failure ??= `upstream ${t.address}:${port}: ${err.message}`;
      if (!res.headersSent) {
        status = 502;
        sendRefusal(res, 502, t.rule, failure);
      } else res.destroy();
    });
    if (body !== null) upstream.end(body);
    else {
      req.on('data', (c: Buffer) => (up += c.length));
      req.pipe(upstream);
    }
    res.on('close', () => {
      upstream.destroy();
      this.deps.audit.finish(id, {
        address: t.address,
        status,
        reason: failure,
        bytes_up: up,
        bytes_down: down,
        duration_ms: Math.round(performance.now() - started),
      });
    });
  }

  /** Audits a refusal and answers it: on the raw socket (CONNECT, upgrade) or as an HTTP response. */
  private deny(ctx: EgressSessionContext, to: Duplex | ServerResponse, d: Refusal): void {
    this.deps.audit.record(ctx.sessionId, { ...d, decision: 'denied' });
    if (to instanceof http.ServerResponse) sendRefusal(to, d.status, d.rule, d.reason);
    else refuse(to, d.status, d.rule, d.reason);
  }
}
