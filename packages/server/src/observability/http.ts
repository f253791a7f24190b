import { createServer, type Server } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../logger.js';
import type { BerthMetrics } from './metrics.js';
import type { Tracing } from './tracing.js';

/**
 * Traces every API request. Must be registered before any other hook: the request's span context is entered with
 * `AsyncLocalStorage.run` around the rest of the request (later hooks, the handler), which is how the session
 * service learns which request sent a message. The span is named by the route template, never the raw URL.
 */
export function traceRequests(app: FastifyInstance, tracing: Tracing): void {
  if (!tracing.enabled) return;
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (req, _reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const tp = req.headers.traceparent;
    const span = tracing.startRequest(req.method, route, typeof tp === 'string' ? tp : undefined, done);
    if (!span) return;
    spans.set(req, span);
    const sessionId = sessionIdOf(req);
    if (sessionId) span.setAttribute('berth.session_id', sessionId);
  });
  const end = (req: FastifyRequest, status: number) => {
    tracing.endRequest(spans.get(req), status, String(req.id));
    spans.delete(req);
  };
  app.addHook('onResponse', async (req, reply) => end(req, reply.statusCode));
  // A client that hangs up (an event stream it stops reading) gets no response; 499 as nginx logs it.
  app.addHook('onRequestAbort', async (req) => end(req, 499));
}

/**
 * Adds the session id to the request's logger on session routes, so every line a request logs names its session
 * as well as its request id.
 */
export function logSessionIds(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    const sessionId = sessionIdOf(req);
    if (sessionId) req.log = req.log.child({ sessionId });
  });
}

/** The session a request is about (`/v1/sessions/:id...` routes), as the router parsed it. */
function sessionIdOf(req: FastifyRequest): string | undefined {
  if (!(req.routeOptions.url ?? '').startsWith('/v1/sessions/:id')) return undefined;
  const id = (req.params as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' && /^sesn_[A-Za-z0-9]{1,64}$/.test(id) ? id : undefined;
}

/** `GET /metrics` on the API listener (behind the admin key like every non-health route). */
export function metricsRoute(app: FastifyInstance, metrics: BerthMetrics): void {
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.header('content-type', contentType).send(body);
  });
}

/**
 * A separate, unauthenticated listener serving only `GET /metrics` (`--metrics-port`), for scrapers on a private
 * network that should not hold the admin key.
 */
export async function startMetricsServer(
  host: string,
  port: number,
  metrics: BerthMetrics,
  logger: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here.\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => {
        logger.error({ err }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Collecting metrics failed; see the log.\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
