import { isStorageFailure, storageUnavailable } from '../store/failures.js';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { newId } from '@berth/protocol';
import { ApiError, errorBody } from '../errors.js';
import { BadCursorError } from '../store/store.js';
import { agentRoutes } from './agents.js';
import type { ApiContext } from './context.js';
import { egressRoutes } from './egress.js';
import { sessionLifecycleRoutes } from './session-lifecycle.js';
import { usageRoutes } from './usage.js';
import { environmentRoutes } from './environments.js';
import { eventRoutes } from './events.js';
import { sessionRoutes } from './sessions.js';
import { credentialRoutes } from './credentials.js';
import { vaultRoutes } from './vaults.js';
import { fileRoutes } from './files.js';
import { webhookRoutes } from './webhooks.js';
import { clientErrorHandler, frameworkErrors } from './framework-errors.js';
import { sessionResourceRoutes } from './session-resources.js';
import { workspaceFileRoutes } from './workspace-files.js';
import { previewRoutes } from './previews.js';
import { triggerRoutes } from './triggers.js';
import { HOOK_ROUTE, triggerHookRoutes } from './trigger-hook.js';
import { registerWebSocket } from './ws-plugin.js';
import { adminRoutes } from './admin.js';
import { auditMutations, authorize } from './tenancy.js';
import { wsProtocolKey } from './ws.js';
import { logSessionIds, metricsRoute, traceRequests } from '../observability/http.js';

/**
 * Builds the HTTP API: Managed-Agents-compatible routes under /v1, health under /healthz and /readyz.
 * Every error leaves in the Anthropic shape with a `request-id` header; anything unexpected is logged as a bug and
 * answered 500 without internals.
 */
export function buildHttpApi(ctx: ApiContext): FastifyInstance {
  // Typed as the default instance: pino's Logger type is wider than FastifyBaseLogger, which route modules use.
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: 'api' }),
    // Per-request lines come from the onResponse hook below (debug level), with our request ids.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    bodyLimit: ctx.config.maxBodyBytes,
    genReqId: () => newId('request'),
    requestIdHeader: false,
    // Event streams never end on their own; closing the server must not wait for them.
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // Routing and HTTP-parser errors leave in the Anthropic shape too (they bypass setErrorHandler).
    frameworkErrors,
    clientErrorHandler,
  }) as unknown as FastifyInstance;
  // First hook of all, so the request span covers authentication and its context reaches the handlers.
  if (ctx.observability) traceRequests(app, ctx.observability.tracing);
  logSessionIds(app);

  // Only JSON is accepted; fastify's built-in text/plain parser would let other bodies through to validation.
  app.removeContentTypeParser('text/plain');
  // Bodyless POSTs (archive) send no content-type; an empty JSON body is treated as "no body" too.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    // PostgreSQL text cannot hold NUL; refuse it for every backend rather than fail on one.
    if (text.includes('\\u0000')) {
      return done(new ApiError('invalid_request', 'Strings must not contain NUL (\\u0000) characters.'), undefined);
    }
    try {
      done(null, JSON.parse(text));
    } catch {
      done(
        new ApiError(
          'invalid_json',
          'The request body is not valid JSON. Send a JSON object with content-type application/json.',
        ),
        undefined,
      );
    }
  });

  app.decorateRequest('berthCaller', null);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('request-id', req.id);
    // Decided on the route the router matched, never on the raw URL: the router decodes and normalises paths
    // (`/%761/agents` is `/v1/agents`), so a raw-URL check could be bypassed. Only the health routes and trigger
    // webhooks are public.
    if (PUBLIC_ROUTES.has(req.routeOptions.url ?? '')) return;
    // Resolves the caller (tenant, scope) once; routes read it with callerOf(req) / storeOf(req) (tenancy.ts).
    await authorize(
      req,
      apiKeyOf(req.headers),
      ctx,
      () =>
        new ApiError(
          'unauthorized',
          'Invalid or missing API key. Send it as `x-api-key: <key>` or `Authorization: Bearer <key>` (WebSocket clients may offer the subprotocol `berth.key.<key>`).',
        ),
    );
  });
  auditMutations(app, ctx.store, ctx.clock);

  app.addHook('onResponse', async (req, reply) => {
    req.log.debug(
      { method: req.method, url: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const apiErr = toApiError(err);
    if (apiErr.code === 'internal') req.log.error({ err }, 'unhandled error (this is a bug)');
    else if (apiErr.code === 'storage_unavailable') req.log.error({ err }, 'the store refused a write');
    // not_ready repeats on every probe while it lasts; its body carries the problems, the log need not.
    else if (apiErr.status >= 500) req.log.debug({ code: apiErr.code }, apiErr.message);
    if (apiErr.shouldRetry !== undefined) reply.header('x-should-retry', String(apiErr.shouldRetry));
    if (apiErr.retryAfterS !== undefined) reply.header('retry-after', String(apiErr.retryAfterS));
    void reply.status(apiErr.status).send(errorBody(apiErr, String(req.id)));
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError(
      'not_found',
      `No route ${req.method} ${req.url.split('?')[0]}. See the API reference for the routes Berth serves.`,
    );
    void reply.status(404).send(errorBody(e, String(req.id)));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    const r = await ctx.ready();
    if (!r.ok) {
      throw new ApiError(
        'not_ready',
        `berthd is not ready: ${r.problems.join('; ')}. Fix these and retry; /healthz reports only that the process is alive.`,
        { problems: r.problems },
        true,
      );
    }
    return { status: 'ready', problems: [] };
  });
  if (ctx.observability) metricsRoute(app, ctx.observability.metrics);

  for (const routes of [
    agentRoutes,
    environmentRoutes,
    sessionRoutes,
    eventRoutes,
    vaultRoutes,
    credentialRoutes,
    egressRoutes,
    usageRoutes,
    fileRoutes,
    sessionResourceRoutes,
    workspaceFileRoutes,
    previewRoutes,
    triggerRoutes,
    triggerHookRoutes,
    sessionLifecycleRoutes,
    webhookRoutes,
    adminRoutes,
  ]) {
    routes(app, ctx);
  }
  registerWebSocket(app, ctx);
  return app;
}

// A trigger's webhook is authenticated by the trigger's own secret instead (api/trigger-hook.ts).
const PUBLIC_ROUTES = new Set(['/healthz', '/readyz', HOOK_ROUTE]);

function apiKeyOf(h: Record<string, string | string[] | undefined>): string | undefined {
  const x = h['x-api-key'];
  if (typeof x === 'string' && x) return x;
  const auth = h.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  // Browsers cannot set headers on a WebSocket handshake: they offer the key as a `berth.key.<key>` subprotocol.
  return wsProtocolKey(h);
}

/** Maps framework and library errors onto the registry; anything unknown is a 500. */
function toApiError(err: FastifyError | ApiError): ApiError {
  if (err instanceof ApiError) return err;
  if (isStorageFailure(err)) return storageUnavailable();
  if (err instanceof BadCursorError)
    return new ApiError('invalid_request', 'The page cursor is not valid. Pass next_page exactly as returned.');
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('request_too_large', 'The request body is too large. Send a smaller body.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(
        'unsupported_media_type',
        'Unsupported content-type. Send JSON with content-type application/json.',
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('invalid_json', 'The request body is not valid JSON.');
    default:
      if (err.statusCode === 404) return new ApiError('not_found', err.message);
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
        return new ApiError('invalid_request', err.message);
      }
      return new ApiError('internal', 'Internal error. It has been logged; please report it with the request id.');
  }
}
