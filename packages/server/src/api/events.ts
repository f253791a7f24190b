import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import type { Store } from '../store/store.js';
import type { InboundEvent, SessionService } from '../sessions/service.js';
import type { WireEvent } from '../sessions/event-log.js';
import { checkId, rangeFrom } from './common.js';
import type { RouteModule } from './context.js';
import { loadSession, storeOf } from './tenancy.js';
import { EVENT_DELTA_TYPES, SendEventsBodySchema } from './events-schema.js';
import { EventListQuerySchema } from './sessions-schema.js';
import { streamEvents } from './sse.js';
import { SseHub } from './sse-hub.js';
import { parseInput } from './validate.js';

const IdParams = z.object({ id: z.string() });
const StreamQuery = z.object({
  'event_deltas[]': z
    .union([z.enum(EVENT_DELTA_TYPES), z.array(z.enum(EVENT_DELTA_TYPES))], {
      error: `event_deltas[] accepts ${EVENT_DELTA_TYPES.join(' and ')} only`,
    })
    .optional(),
});

/**
 * Validates a send-events body (`{events:[…]}`) and hands the events to the session: the one path behind
 * `POST /v1/sessions/:id/events` and client frames of the WebSocket channel, so both accept exactly the same input.
 */
export async function acceptEvents(
  sessions: SessionService,
  store: Store,
  id: string,
  body: unknown,
): Promise<WireEvent[]> {
  const b = parseInput(SendEventsBodySchema, body);
  // `store` is the caller's tenant-scoped store: another tenant's session is a 404 here.
  if (!(await store.getSession(id))) throw notFound('session', id);
  for (const e of b.events) {
    if (e.type === 'user.tool_result') {
      throw new ApiError(
        'unsupported_feature',
        'user.tool_result answers tools of self_hosted environments, which Berth does not run. Answer custom tools with user.custom_tool_result.',
      );
    }
    if (e.type === 'user.define_outcome') {
      throw new ApiError(
        'unsupported_feature',
        `Events of type '${e.type}' are not supported by this Berth build yet.`,
      );
    }
  }
  const inbound = b.events.map((e) => ({ ...e, id: newId('event') }) as InboundEvent);
  return sessions.send(id, inbound);
}

/** events: send, list, stream (SSE). */
export const eventRoutes: RouteModule = (app, ctx) => {
  const { sessions, config } = ctx;
  const hub = new SseHub(ctx.eventLog, ctx.logger.child({ component: 'sse' }));

  app.post('/v1/sessions/:id/events', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    checkId('session', 'sesn_', id);
    return { data: await acceptEvents(sessions, storeOf(req), id, req.body) };
  });

  app.get('/v1/sessions/:id/events', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    checkId('session', 'sesn_', id);
    const q = parseInput(EventListQuerySchema, req.query, 'query');
    await loadSession(req, id);
    const types = q['types[]'];
    const page = await storeOf(req).listEvents(id, {
      limit: q.limit,
      page: q.page,
      order: q.order,
      types: types === undefined ? undefined : Array.isArray(types) ? types : [types],
      processedAt: rangeFrom(q, 'created_at'),
    });
    return { data: page.data.map((e) => e.body), next_page: page.next };
  });

  app.get('/v1/sessions/:id/events/stream', async (req, reply) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    checkId('session', 'sesn_', id);
    parseInput(StreamQuery, req.query, 'query');
    await loadSession(req, id);
    streamEvents(req, reply, hub, id, config.sseHeartbeatMs);
  });
};
