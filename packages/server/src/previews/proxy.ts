import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { newId } from '@berth/protocol';
import { ApiError, errorBody } from '../errors.js';
import type { Logger } from '../logger.js';
import { authorize, forwardHeaders, responseHeaders, TOKEN_COOKIE, type PreviewAccess } from './access.js';
import type { TunnelHub } from './hub.js';
import type { PreviewRegistry } from './registry.js';
import { TunnelError } from './tunnel-socket.js';

export interface PreviewProxyDeps {
  registry: PreviewRegistry;
  hub: TunnelHub;
  /** The preview domain: hosts are `<port>-<session>.<domain>`. */
  domain: () => string;
  /** Whether preview URLs are https (the cookie is then `Secure`). */
  secure: () => boolean;
  /** A tunnel (and its client connection) with no traffic for this long is closed. */
  idleTimeoutMs: number;
  logger: Logger;
}

/**
 * The preview listener: a plain node HTTP server apart from the API, so agent-served pages never share an origin
 * with it. Every request is routed by its Host to one preview, checked against that preview's token, and relayed
 * through a fresh tunnel into the sandbox; bodies stream both ways and are never buffered whole. WebSocket (any
 * upgrade) requests get their raw bytes piped once the tunnel is open.
 */
export function createPreviewServer(deps: PreviewProxyDeps): { server: Server; closeAll(): void } {
  const server = createServer((req, res) => void handle(req, res, deps));
  // Upgraded sockets leave the HTTP server's own bookkeeping (closeAllConnections misses them) but still hold
  // server.close() open, so they are tracked here.
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    void upgrade(req, socket, head, deps);
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return {
    server,
    closeAll() {
      server.closeAllConnections();
      for (const s of upgraded) s.destroy();
      upgraded.clear();
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: PreviewProxyDeps): Promise<void> {
  let access: PreviewAccess;
  try {
    access = authorize(req, deps.domain(), deps.registry);
  } catch (err) {
    return sendError(res, err);
  }
  if (access.fromQuery && (req.method === 'GET' || req.method === 'HEAD')) {
    // Trade the token in the URL for a host-only HttpOnly cookie, and drop it from the address bar and history.
    const cookie = `${TOKEN_COOKIE}=${access.token}; Path=/; HttpOnly; SameSite=Lax${deps.secure() ? '; Secure' : ''}`;
    res.writeHead(303, { location: access.path, 'set-cookie': cookie, 'cache-control': 'no-store' });
    return void res.end();
  }
  let tunnel: Socket;
  try {
    tunnel = await deps.hub.open(access.preview.sessionId, access.preview.port);
  } catch (err) {
    req.resume();
    return sendError(res, tunnelError(err, access.preview.port));
  }
  // The client may have gone while the tunnel was opening: nothing would close the tunnel then.
  if (req.socket.destroyed) return void tunnel.destroy();
  tunnel.setTimeout(deps.idleTimeoutMs, () => tunnel.destroy());
  const headers = Object.fromEntries(groupHeaders(forwardHeaders(req, false)));
  headers.connection = 'close';
  const up = request({
    method: req.method,
    path: access.path,
    headers,
    setHost: false,
    // No agent: with createConnection alone, node uses exactly this socket for exactly this request.
    createConnection: () => tunnel,
  });
  // The tunnel was paused after its header was read; the client's parser is attached by now.
  up.on('socket', (s) => s.resume());
  up.on('response', (r) => {
    res.writeHead(r.statusCode ?? 502, r.statusMessage, responseHeaders(r.rawHeaders));
    r.pipe(res);
  });
  up.on('error', (err) => {
    tunnel.destroy();
    deps.logger.debug({ err }, 'preview request failed');
    if (!res.headersSent) {
      sendError(
        res,
        new ApiError('preview_upstream_failed', `The server in the sandbox broke the connection (${err.message}).`),
      );
    } else res.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished) tunnel.destroy();
  });
  req.pipe(up);
}

async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, deps: PreviewProxyDeps): Promise<void> {
  socket.on('error', () => socket.destroy());
  let access: PreviewAccess;
  let tunnel: Socket;
  try {
    access = authorize(req, deps.domain(), deps.registry);
    tunnel = await deps.hub.open(access.preview.sessionId, access.preview.port).catch((err: unknown) => {
      throw tunnelError(err, access.preview.port);
    });
  } catch (err) {
    return rawError(socket, err);
  }
  if (socket.destroyed) return void tunnel.destroy();
  const lines = [`${req.method ?? 'GET'} ${access.path} HTTP/${req.httpVersion}`];
  for (const [k, v] of forwardHeaders(req, true)) lines.push(`${k}: ${v}`);
  tunnel.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) tunnel.write(head);
  for (const s of [tunnel, socket as Socket]) s.setTimeout(deps.idleTimeoutMs, () => s.destroy());
  tunnel.on('error', () => socket.destroy());
  tunnel.on('close', () => socket.destroy());
  socket.on('close', () => tunnel.destroy());
  tunnel.pipe(socket);
  socket.pipe(tunnel);
}

/** Maps a tunnel failure onto the API error registry, saying what to do next. */
function tunnelError(err: unknown, port: number): ApiError {
  if (!(err instanceof TunnelError)) return new ApiError('preview_upstream_failed', 'The tunnel failed.');
  switch (err.reason) {
    case 'not_listening':
      return new ApiError(
        'preview_upstream_failed',
        `Nothing in the session's sandbox listens on port ${port}. Have the agent start its server (on 127.0.0.1 or 0.0.0.0, port ${port}) and reload.`,
      );
    case 'limit':
      return new ApiError('too_many_tunnels', `${err.message}; retry when some have closed.`, {}, true, 1);
    case 'reserved':
    case 'connect_failed':
    case 'timeout':
    case 'closed':
      return new ApiError('preview_upstream_failed', `The preview could not be reached: ${err.message}.`);
  }
}

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError('internal', 'Internal error in the preview proxy.');
}

function sendError(res: ServerResponse, err: unknown): void {
  const e = asApiError(err);
  const body = JSON.stringify(errorBody(e, newId('request')));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (e.retryAfterS !== undefined) headers['retry-after'] = String(e.retryAfterS);
  res.writeHead(e.status, headers).end(body);
}

function rawError(socket: Duplex, err: unknown): void {
  const e = asApiError(err);
  const body = JSON.stringify(errorBody(e, newId('request')));
  socket.end(
    `HTTP/1.1 ${e.status} ${e.type}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Raw header pairs grouped by lower-case name (node joins repeated values as it should per header). */
function groupHeaders(pairs: Array<[string, string]>): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [k, v] of pairs) {
    const name = k.toLowerCase();
    const prev = out.get(name);
    out.set(name, prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]);
  }
  return out;
}
