import { isStorageFailure, storageUnavailable } from '../store/failures.js';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from '@fastify/websocket';
import { ApiError, errorBody } from '../errors.js';
import type { WireEvent } from '../sessions/event-log.js';
import { encodeCursor } from '../store/cursor.js';
import type { ApiContext } from './context.js';
import { acceptEvents } from './events.js';
import { assertCanWrite, callerOf, storeOf } from './tenancy.js';

/** A frame's payload as `ws` delivers it. */
type RawData = Buffer | ArrayBuffer | Buffer[];

/** Close codes the channel uses (docs/api.md lists them). 1009 (frame too large) comes from `ws` itself. */
export const WS_CLOSE = {
  /** The session ended (`session.deleted` / `session.status_terminated`), as the SSE stream ends. */
  sessionEnded: 1000,
  serverShutdown: 1001,
  /** The client does not read its events, or sends frames faster than they are handled. */
  slowClient: 1008,
  internal: 1011,
} as const;

/** Events after which the server closes the channel, like the SSE stream. */
const CLOSING = new Set(['session.deleted', 'session.status_terminated']);
/** Bytes queued for a client that does not read before it is cut off (it resumes with `after`). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Live events held while history is replayed before the client is cut off. */
const MAX_HELD_EVENTS = 10_000;
/** Client frames waiting to be handled (they are handled one at a time, in order). */
const MAX_PENDING_FRAMES = 64;
const REPLAY_PAGE = 500;

/**
 * Runs one WebSocket connection of a session: replays history after `afterSeq` (when given), then live events, each
 * exactly once and in order; and hands client frames to the same send path as `POST /v1/sessions/:id/events`.
 *
 * No gap, no duplicate: inside the event log's per-session append chain (so no append is half done) the channel
 * subscribes and reads the session's last seq. Events up to that seq were published before the subscription and
 * come from the store; later ones reach the subscription, which holds them until the replay is sent.
 */
export function openChannel(
  ws: WebSocket,
  req: FastifyRequest,
  ctx: ApiContext,
  sessionId: string,
  afterSeq: number | undefined,
): void {
  const log = req.log.child({ sessionId, channel: 'ws' });
  let held: WireEvent[] | null = afterSeq === undefined ? null : [];
  let closed = false;
  let alive = true;
  let unsubscribe = () => {};

  const close = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(ping);
    ws.close(code, reason);
  };
  const deliver = (e: WireEvent, sent?: () => void) => {
    if (closed) return;
    ws.send(ctx.eventLog.json(e), sent);
    if (CLOSING.has(e.type)) {
      close(WS_CLOSE.sessionEnded, e.type === 'session.deleted' ? 'session deleted' : 'session terminated');
    } else if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      close(WS_CLOSE.slowClient, 'client is not reading events; reconnect with ?after=<last event id>');
    }
  };

  const ping = setInterval(() => {
    if (!alive) {
      log.debug('no pong within a heartbeat interval; dropping the connection');
      closed = true;
      unsubscribe();
      clearInterval(ping);
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, ctx.config.sseHeartbeatMs);
  ws.on('pong', () => (alive = true));
  log.debug({ after: afterSeq ?? null }, 'websocket channel opened');
  ws.on('close', (code: number) => {
    log.debug({ code }, 'websocket channel closed');
    closed = true;
    unsubscribe();
    clearInterval(ping);
  });

  const start = async () => {
    const lastSeq = await ctx.eventLog.serialised(sessionId, async () => {
      unsubscribe = ctx.eventLog.subscribe(sessionId, (events) => {
        if (!held) return events.forEach((e) => deliver(e));
        held.push(...events);
        if (held.length > MAX_HELD_EVENTS)
          close(WS_CLOSE.slowClient, 'replay too slow; reconnect with ?after=<last event id>');
      });
      if (afterSeq === undefined) return 0;
      const last = await ctx.store.listEvents(sessionId, { limit: 1, order: 'desc' });
      return last.data[0]?.seq ?? 0;
    });
    if (afterSeq === undefined || closed) return;
    let page: string | null = encodeCursor({ s: afterSeq });
    while (page && !closed) {
      const p = await ctx.store.listEvents(sessionId, { limit: REPLAY_PAGE, order: 'asc', page });
      const rows = p.data.filter((r) => r.seq <= lastSeq);
      page = rows.length < p.data.length ? null : p.next;
      // Flow control: the next page is read once this one has left for the client.
      await new Promise<void>((resolve) => {
        rows.forEach((r, i) => deliver(r.body as WireEvent, i === rows.length - 1 ? () => resolve() : undefined));
        if (rows.length === 0 || closed) resolve();
      });
    }
    const pending = held ?? [];
    held = null;
    for (const e of pending) deliver(e);
  };
  start().catch((err: unknown) => {
    log.error({ err }, 'websocket replay failed (this is a bug)');
    close(WS_CLOSE.internal, 'internal error; reconnect with ?after=<last event id>');
  });

  let queued = 0;
  let chain = Promise.resolve();
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (++queued > MAX_PENDING_FRAMES) {
      close(WS_CLOSE.slowClient, `more than ${MAX_PENDING_FRAMES} frames waiting; wait for events before sending more`);
      return;
    }
    chain = chain.then(async () => {
      try {
        if (closed) return;
        // Frames are mutations that do not arrive as a mutating HTTP method: the scope is checked here.
        assertCanWrite(callerOf(req));
        await acceptEvents(ctx.sessions, storeOf(req), sessionId, frameBody(data, isBinary));
      } catch (err) {
        const apiErr = err instanceof ApiError ? err : isStorageFailure(err) ? storageUnavailable() : undefined;
        if (!apiErr) log.error({ err }, 'websocket frame failed (this is a bug)');
        else if (apiErr.code === 'storage_unavailable') log.error({ err }, 'the store refused a write');
        const out = apiErr ?? new ApiError('internal', 'Internal error. It has been logged; please report it.');
        if (!closed) ws.send(JSON.stringify(errorBody(out, String(req.id))));
      } finally {
        queued--;
      }
    });
  });
}

/** A client frame as a send-events body: one event object, or `{events:[…]}` exactly as the POST body. */
function frameBody(data: RawData, isBinary: boolean): unknown {
  if (isBinary) throw new ApiError('invalid_request', 'Send events as text frames holding JSON, not binary frames.');
  const text = Array.isArray(data)
    ? Buffer.concat(data).toString('utf8')
    : Buffer.from(data as Buffer).toString('utf8');
  // PostgreSQL text cannot hold NUL; refused for every backend, as the HTTP body parser does.
  if (text.includes('\\u0000')) {
    throw new ApiError('invalid_request', 'Strings must not contain NUL (\\u0000) characters.');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError('invalid_json', 'The frame is not valid JSON. Send one event object or {"events":[…]}.');
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'events' in parsed) return parsed;
  return { events: [parsed] };
}
