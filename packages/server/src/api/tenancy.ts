import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, errorBody, notFound } from '../errors.js';
import { isStorageFailure, storageUnavailable } from '../store/failures.js';
import { DEFAULT_TENANT, type KeyScope, type SessionRecord, type Store } from '../store/store.js';
import { TenantStore } from '../store/tenant-scope.js';
import { newTenancyId } from '../tenants/keys.js';
import type { KeyIdentity } from '../tenants/auth.js';

/**
 * Who is calling, resolved once per request by the auth hook (`authorize` below) and read by routes through
 * `callerOf(req)` / `storeOf(req)`. This is the whole tenancy contract of a route:
 * - use `storeOf(req)` (a TenantStore) for every store call on a tenant's resources: another tenant's row reads
 *   as absent, so the route answers 404 exactly as for an id that never existed;
 * - use `loadSession(req, id)` before handing a session id to the SessionService (which is not tenant-aware);
 * - the unscoped `ctx.store` is for admin routes and system work only.
 */
export interface Caller {
  /** The tenant the request acts on: the key's own, or for admin keys `default` / the `berth-tenant` header. */
  tenantId: string;
  scope: KeyScope;
  keyId: string | null;
  keyPrefix: string;
  /** The store as this tenant sees it. */
  store: TenantStore;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every authenticated request (null on the public routes). */
    berthCaller: Caller | null;
  }
}

/** Name of the header with which an admin key picks the tenant it acts on. */
export const TENANT_HEADER = 'berth-tenant';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const ADMIN_ROUTES = '/v1/berth/admin/';

/** The caller of an authenticated request. */
export function callerOf(req: FastifyRequest): Caller {
  const c = req.berthCaller;
  // Only the public routes skip the auth hook, and they never ask.
  if (!c) throw new Error('callerOf on a request the auth hook did not authenticate (this is a bug)');
  return c;
}

/** The tenant-scoped store of an authenticated request. */
export function storeOf(req: FastifyRequest): Store {
  return callerOf(req).store;
}

/** The caller's session `id`, or a 404 (also when it belongs to another tenant). */
export async function loadSession(req: FastifyRequest, id: string): Promise<SessionRecord> {
  const s = await storeOf(req).getSession(id);
  if (!s) throw notFound('session', id);
  return s;
}

/** A read-scoped caller cannot change anything (used where a mutation does not arrive as a mutating HTTP method). */
export function assertCanWrite(caller: Caller): void {
  if (caller.scope === 'read') {
    throw new ApiError(
      'permission_denied',
      'This API key is read-only. Use a key with the write scope to change resources.',
    );
  }
}

/**
 * Resolves the caller of a request from its key (401 when there is none or it is not valid), decides the tenant it
 * acts on and enforces scopes: admin routes need an admin key (403), read keys may only read (403), a tenant key
 * cannot name another tenant (403).
 */
export async function authorize(
  req: FastifyRequest,
  key: string | undefined,
  ctx: { store: Store; authenticate: (key: string) => Promise<KeyIdentity | undefined> },
  unauthorized: () => ApiError,
): Promise<void> {
  const id = key ? await ctx.authenticate(key) : undefined;
  if (!id) throw unauthorized();
  const named = req.headers[TENANT_HEADER];
  if (named !== undefined && (typeof named !== 'string' || named.length === 0 || named.length > 128)) {
    throw new ApiError('invalid_request', `The ${TENANT_HEADER} header must be one tenant id.`);
  }
  let tenantId: string;
  if (id.scope === 'admin') {
    tenantId = named ?? DEFAULT_TENANT;
    if (tenantId !== DEFAULT_TENANT && !(await ctx.store.getTenant(tenantId))) {
      throw new ApiError(
        'not_found',
        `No tenant '${tenantId}' exists (${TENANT_HEADER} header). List tenants with GET /v1/berth/admin/tenants.`,
      );
    }
  } else {
    tenantId = id.tenantId ?? DEFAULT_TENANT;
  }
  req.berthCaller = { ...id, tenantId, store: new TenantStore(ctx.store, tenantId) };
  if (id.scope !== 'admin' && named !== undefined && named !== tenantId) {
    throw new ApiError(
      'permission_denied',
      `This key belongs to tenant '${tenantId}' and cannot act on another tenant. Drop the ${TENANT_HEADER} header.`,
    );
  }
  // /metrics aggregates every tenant's sessions and tokens: it is an operator's view, like the admin routes.
  const route = req.routeOptions.url ?? '';
  if ((route.startsWith(ADMIN_ROUTES) || route === '/metrics') && id.scope !== 'admin') {
    throw new ApiError('permission_denied', 'Admin routes (and /metrics) need an admin key.');
  }
  if (!SAFE_METHODS.has(req.method)) assertCanWrite(req.berthCaller);
}

/**
 * Writes one audit record per mutating request of an authenticated caller (refused ones too), before the response
 * leaves: if the write fails the client gets an error rather than an unaudited success. The error is written here
 * (an error thrown from onSend would leave fastify's own shape): 503 `storage_unavailable` when the store refused
 * the write (a full disk: retryable), else 500.
 */
export function auditMutations(app: FastifyInstance, store: Store, clock: () => string): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const caller = req.berthCaller;
    const route = req.routeOptions.url;
    if (!caller || !route || SAFE_METHODS.has(req.method)) return payload;
    try {
      await record(req, reply.statusCode, payload, caller, route);
      return payload;
    } catch (err) {
      const apiErr = auditFailure(err, reply.statusCode < 400);
      req.log.error({ err }, 'could not write the audit record');
      if (apiErr.shouldRetry !== undefined) void reply.header('x-should-retry', String(apiErr.shouldRetry));
      if (apiErr.retryAfterS !== undefined) void reply.header('retry-after', String(apiErr.retryAfterS));
      void reply.status(apiErr.status).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(errorBody(apiErr, String(req.id)));
    }
  });
  const record = (req: FastifyRequest, status: number, payload: unknown, caller: Caller, route: string) =>
    store.recordAudit({
      id: newTenancyId('audit'),
      tenant_id: caller.tenantId,
      key_prefix: caller.keyPrefix,
      method: req.method,
      route,
      resource_id: resourceIdOf(req.params, status, payload),
      status,
      request_id: String(req.id),
      created_at: clock(),
    });
}

/** The innermost path id (`/v1/vaults/:vid/credentials/:cid` → cid), else the id a create answered with. */
function resourceIdOf(params: unknown, status: number, payload: unknown): string | null {
  const values = Object.values((params ?? {}) as Record<string, unknown>).filter((v) => typeof v === 'string');
  const last = values[values.length - 1];
  if (typeof last === 'string') return last.slice(0, 256);
  if (status >= 300 || typeof payload !== 'string') return null;
  try {
    const id = (JSON.parse(payload) as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? id.slice(0, 256) : null;
  } catch {
    return null;
  }
}

/**
 * The answer when a mutating request's audit record cannot be written. A refused request stored nothing, so a
 * storage failure is the usual retryable 503; a request that took effect must not claim that, nor invite a blind
 * retry: it says what happened so the client checks the resource first.
 */
function auditFailure(err: unknown, tookEffect: boolean): ApiError {
  if (!isStorageFailure(err)) {
    return new ApiError('internal', 'The audit log could not be written, so the request is reported as failed.');
  }
  if (!tookEffect) return storageUnavailable();
  return new ApiError(
    'storage_unavailable',
    'The request was carried out, but its audit record could not be written: the store refused the write (disk full, ' +
      'read-only or failing). Check the resource before retrying; the operator must free space or fix the disk.',
    {},
    false,
  );
}
