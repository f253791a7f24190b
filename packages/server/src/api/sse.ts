import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventLog, WireEvent } from '../sessions/event-log.js';

/** Event types after which the stream is closed by the server (§1: delete must close; terminated may). */
const CLOSING = new Set(['session.deleted', 'session.status_terminated']);

/**
 * Serves a session's live events as SSE: `event: <type>` + `data: <json>` frames (the event name equals the type,
 * as both official SDKs need), `: ping` heartbeats, and no replay: clients list history separately and dedupe by id.
 */
export function streamEvents(
  req: FastifyRequest,
  reply: FastifyReply,
  log: EventLog,
  sessionId: string,
  heartbeatMs: number,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'request-id': String(req.id),
  });
  res.flushHeaders();
  res.write(': connected\n\n');
  let closed = false;
  // Frames written in one turn of the event loop (a runner frame's events, a burst of appends) leave in one socket
  // write: the response is corked at the first and uncorked once the loop reaches its check phase, which adds no
  // wait beyond the code already running.
  let corked = false;
  const uncork = () => {
    if (!corked) return;
    corked = false;
    res.uncork();
  };
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(ping);
    uncork();
    res.end();
  };
  const unsubscribe = log.subscribe(sessionId, (e: WireEvent) => {
    if (closed) return;
    if (!corked) {
      corked = true;
      res.cork();
      setImmediate(uncork);
    }
    res.write(`event: ${e.type}\ndata: ${log.json(e)}\n\n`);
    if (CLOSING.has(e.type)) close();
  });
  const ping = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
  req.raw.on('close', close);
  res.on('close', close);
  res.on('error', close);
  // The client may have gone while the session was being looked up; then no 'close' will come.
  if (req.raw.destroyed || res.destroyed) close();
}
