import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { Store } from '../store/store.js';
import { checkId } from './common.js';
import type { RouteModule } from './context.js';
import { loadSession, storeOf } from './tenancy.js';
import { openChannel } from './ws-channel.js';
import { parseInput } from './validate.js';

/** The subprotocol berthd selects; clients must offer it (browsers fail a handshake that selects none). */
export const WS_PROTOCOL = 'berth.v1';
/** Prefix of the subprotocol that carries the admin key, for clients (browsers) that cannot set headers. */
export const WS_KEY_PROTOCOL_PREFIX = 'berth.key.';

const IdParams = z.object({ id: z.string() });
const Query = z.strictObject({
  after: z
    .string()
    .regex(/^(start|sevt_[A-Za-z0-9]{1,100})$/, "after is an event id (sevt_…) or 'start'")
    .optional(),
});

/** Where a connection starts: `undefined` = live only; otherwise replay events with a larger seq first. */
const startSeqs = new WeakMap<FastifyRequest, number | undefined>();

/**
 * `GET /v1/berth/sessions/:id/ws`: the bidirectional session channel (docs/api.md "WebSocket channel"). Everything
 * that can be refused is refused before the upgrade, as a plain HTTP error in the Anthropic shape: the key (checked
 * by the global auth hook), the session id, `after`, and the subprotocols offered.
 */
export const wsRoutes: RouteModule = (app, ctx) => {
  app.route({
    method: 'GET',
    url: '/v1/berth/sessions/:id/ws',
    preValidation: async (req) => {
      const { id } = parseInput(IdParams, req.params, 'path');
      checkId('session', 'sesn_', id);
      const q = parseInput(Query, req.query, 'query');
      checkProtocols(req.headers['sec-websocket-protocol']);
      await loadSession(req, id);
      startSeqs.set(req, q.after === undefined ? undefined : await seqAfter(storeOf(req), id, q.after));
    },
    handler: async () => {
      throw new ApiError(
        'invalid_request',
        'This route is a WebSocket. Connect with a WebSocket client (Upgrade: websocket, subprotocol berth.v1).',
      );
    },
    wsHandler: (socket, req) => {
      const { id } = req.params as { id: string };
      openChannel(socket, req, ctx, id, startSeqs.get(req));
    },
  });
};

/** A key offered as a subprotocol needs `berth.v1` next to it, or the handshake would select no protocol. */
function checkProtocols(header: string | string[] | undefined): void {
  if (typeof header !== 'string') return;
  const offered = header.split(',').map((p) => p.trim());
  if (offered.some((p) => p.startsWith(WS_KEY_PROTOCOL_PREFIX)) && !offered.includes(WS_PROTOCOL)) {
    throw new ApiError(
      'invalid_request',
      `Offer the subprotocol '${WS_PROTOCOL}' next to the key subprotocol, e.g. ['${WS_PROTOCOL}', '${WS_KEY_PROTOCOL_PREFIX}<key>'].`,
    );
  }
}

/**
 * The seq after which replay starts: 0 for `start`, else the seq of the given event of this session. Found by
 * paging the history (the store has no lookup by event id); a resume point the session never had is a 404.
 */
async function seqAfter(store: Store, sessionId: string, after: string): Promise<number> {
  if (after === 'start') return 0;
  let page: string | undefined;
  for (;;) {
    const p = await store.listEvents(sessionId, { limit: 1000, order: 'asc', page });
    const hit = p.data.find((e) => e.id === after);
    if (hit) return hit.seq;
    if (!p.next) break;
    page = p.next;
  }
  throw new ApiError(
    'not_found',
    `Session '${sessionId}' has no event '${after}' to resume after. Pass the id of an event this session sent, or after=start.`,
  );
}

/** The admin key a WebSocket handshake carries as a `berth.key.<key>` subprotocol, if any. */
export function wsProtocolKey(h: Record<string, string | string[] | undefined>): string | undefined {
  const header = h['sec-websocket-protocol'];
  if (typeof header !== 'string' || h.upgrade?.toString().toLowerCase() !== 'websocket') return undefined;
  const p = header
    .split(',')
    .map((s) => s.trim())
    .find((s) => s.startsWith(WS_KEY_PROTOCOL_PREFIX));
  return p ? p.slice(WS_KEY_PROTOCOL_PREFIX.length) || undefined : undefined;
}

/** `handleProtocols` of the WebSocket server: selects `berth.v1` when offered, never the key. */
export function selectProtocol(protocols: Set<string>): string | false {
  return protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}
