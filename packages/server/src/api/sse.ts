import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SseHub } from './sse-hub.js';

/**
 * Serves a session's live events as SSE: `event: <type>` + `data: <json>` frames (the event name equals the type,
 * as both official SDKs need), `: ping` heartbeats, and no replay: clients list history separately and dedupe by id.
 * The frames come from the hub, which encodes each batch once for all of the session's streams.
 *
 * The body is delimited by the connection's close rather than chunked: a stream lasts as long as its connection
 * anyway, and then every subscriber's socket takes the hub's very buffer in one write, with no per-subscriber chunk
 * framing (which cost as much CPU as the write itself with 100 subscribers).
 */
export function streamEvents(
  req: FastifyRequest,
  reply: FastifyReply,
  hub: SseHub,
  sessionId: string,
  heartbeatMs: number,
): void {
  reply.hijack();
  const res = reply.raw;
  res.removeHeader('transfer-encoding');
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'close',
    'x-accel-buffering': 'no',
    'request-id': String(req.id),
  });
  res.flushHeaders();
  // Straight to the socket once the head is on it; a pipelined request's response has no socket yet, so its body
  // goes through the response, which queues it behind the earlier responses.
  const out = res.socket ?? res;
  const write = (b: Buffer | string) => void out.write(b);
  write(': connected\n\n');
  let closed = false;
  const close = (why: 'closed' | 'slow' = 'closed') => {
    if (closed) return;
    closed = true;
    detach();
    clearInterval(ping);
    // A client that does not read would keep what is queued for it (and the socket) forever: drop it instead.
    if (why === 'slow') res.destroy();
    else res.end();
  };
  const detach = hub.attach(sessionId, {
    write,
    buffered: () => res.writableLength,
    end: close,
    cork: () => out.cork(),
    uncork: () => out.uncork(),
  });
  const ping = setInterval(() => write(': ping\n\n'), heartbeatMs);
  req.raw.on('close', () => close());
  res.on('close', () => close());
  res.on('error', () => close());
  // The client may have gone while the session was being looked up; then no 'close' will come.
  if (req.raw.destroyed || res.destroyed) close();
}
