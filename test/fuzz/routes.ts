import type { BodyKind, Ids } from './bodies.js';

/** Which real id a path parameter wants. */
export type IdKind = keyof Ids;

/** One route berthd registers, as the fuzzer sees it. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with `:kind` placeholders (`:agent`, `:session`, …). */
  path: string;
  body: BodyKind | 'multipart' | 'octet';
  /** Query keys the route reads (the generator adds unknown and evil ones too). */
  query?: string[];
  /** Destroys the resource: never sent with the real ids, so the rest of the run keeps reaching them. */
  destructive?: boolean;
  /** Never ends on its own (SSE). */
  stream?: boolean;
}

const list = ['limit', 'page', 'include_archived', 'created_at[gte]', 'created_at[lt]'];

/**
 * Every route of packages/server/src/api/*.ts and observability/http.ts. A test checks this table against the
 * routes fastify actually registered, so a new route cannot be left out silently.
 */
export const ROUTES: Route[] = [
  { method: 'GET', path: '/healthz', body: 'none' },
  { method: 'GET', path: '/readyz', body: 'none' },
  { method: 'GET', path: '/metrics', body: 'none' },
  // agents
  { method: 'POST', path: '/v1/agents', body: 'agent' },
  { method: 'GET', path: '/v1/agents', body: 'none', query: list },
  { method: 'GET', path: '/v1/agents/:agent', body: 'none', query: ['version'] },
  { method: 'POST', path: '/v1/agents/:agent', body: 'agent' },
  { method: 'POST', path: '/v1/agents/:agent/archive', body: 'none', destructive: true },
  { method: 'GET', path: '/v1/agents/:agent/versions', body: 'none', query: ['limit', 'page'] },
  // environments
  { method: 'POST', path: '/v1/environments', body: 'env' },
  { method: 'GET', path: '/v1/environments', body: 'none', query: list },
  { method: 'GET', path: '/v1/environments/:env', body: 'none' },
  { method: 'POST', path: '/v1/environments/:env', body: 'env' },
  { method: 'DELETE', path: '/v1/environments/:env', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/environments/:env/archive', body: 'none', destructive: true },
  // sessions
  { method: 'POST', path: '/v1/sessions', body: 'session' },
  {
    method: 'GET',
    path: '/v1/sessions',
    body: 'none',
    query: [...list, 'order', 'statuses[]', 'agent_id', 'agent_version', 'deployment_id', 'memory_store_id'],
  },
  { method: 'GET', path: '/v1/sessions/:session', body: 'none' },
  { method: 'POST', path: '/v1/sessions/:session', body: 'sessionUpdate' },
  { method: 'DELETE', path: '/v1/sessions/:session', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/sessions/:session/archive', body: 'none', destructive: true },
  // events
  { method: 'POST', path: '/v1/sessions/:session/events', body: 'events' },
  {
    method: 'GET',
    path: '/v1/sessions/:session/events',
    body: 'none',
    query: ['limit', 'page', 'order', 'types[]', 'created_at[gt]'],
  },
  { method: 'GET', path: '/v1/sessions/:session/events/stream', body: 'none', query: ['event_deltas[]'], stream: true },
  // session resources
  { method: 'GET', path: '/v1/sessions/:session/resources', body: 'none', query: ['limit', 'page'] },
  { method: 'POST', path: '/v1/sessions/:session/resources', body: 'resource' },
  { method: 'GET', path: '/v1/sessions/:session/resources/:resource', body: 'none' },
  { method: 'POST', path: '/v1/sessions/:session/resources/:resource', body: 'resource' },
  { method: 'DELETE', path: '/v1/sessions/:session/resources/:resource', body: 'none', destructive: true },
  // vaults and credentials
  { method: 'POST', path: '/v1/vaults', body: 'vault' },
  { method: 'GET', path: '/v1/vaults', body: 'none', query: list },
  { method: 'GET', path: '/v1/vaults/:vault', body: 'none' },
  { method: 'POST', path: '/v1/vaults/:vault', body: 'vault' },
  { method: 'DELETE', path: '/v1/vaults/:vault', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/vaults/:vault/archive', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/vaults/:vault/credentials', body: 'credential' },
  { method: 'GET', path: '/v1/vaults/:vault/credentials', body: 'none', query: list },
  { method: 'GET', path: '/v1/vaults/:vault/credentials/:cred', body: 'none' },
  { method: 'POST', path: '/v1/vaults/:vault/credentials/:cred', body: 'credential' },
  { method: 'DELETE', path: '/v1/vaults/:vault/credentials/:cred', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/vaults/:vault/credentials/:cred/archive', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/vaults/:vault/credentials/:cred/mcp_oauth_validate', body: 'none' },
  // files
  { method: 'POST', path: '/v1/files', body: 'multipart' },
  { method: 'GET', path: '/v1/files', body: 'none', query: ['limit', 'page', 'ids[]', 'scope_id'] },
  { method: 'GET', path: '/v1/files/:file', body: 'none' },
  { method: 'GET', path: '/v1/files/:file/content', body: 'none' },
  { method: 'DELETE', path: '/v1/files/:file', body: 'none', destructive: true },
  // Berth extensions
  { method: 'GET', path: '/v1/berth/sessions/:session/egress', body: 'none', query: ['limit', 'page', 'decision'] },
  {
    method: 'GET',
    path: '/v1/berth/usage',
    body: 'none',
    query: ['group_by', 'from', 'to', 'session_id', 'agent_id', 'environment_id', 'limit', 'page'],
  },
  // Without an upgrade the WebSocket route answers 400 before anything else; test/ws.test.ts covers the socket.
  { method: 'GET', path: '/v1/berth/sessions/:session/ws', body: 'none', query: ['after'] },
  { method: 'GET', path: '/v1/berth/sessions/:session/files', body: 'none', query: ['path', 'recursive', 'limit'] },
  { method: 'GET', path: '/v1/berth/sessions/:session/files/content', body: 'none', query: ['path'] },
  { method: 'PUT', path: '/v1/berth/sessions/:session/files/content', body: 'octet', query: ['path'] },
  {
    method: 'DELETE',
    path: '/v1/berth/sessions/:session/files',
    body: 'none',
    query: ['path', 'recursive'],
    destructive: true,
  },
  { method: 'GET', path: '/v1/berth/sessions/:session/files/archive', body: 'none', query: ['path'] },
  // Port previews (the fuzzed berthd serves them). No real preview id exists: `:resource` stands in (a 404).
  { method: 'POST', path: '/v1/berth/sessions/:session/previews', body: 'preview' },
  { method: 'GET', path: '/v1/berth/sessions/:session/previews', body: 'none' },
  { method: 'GET', path: '/v1/berth/sessions/:session/previews/:resource', body: 'none' },
  {
    method: 'DELETE',
    path: '/v1/berth/sessions/:session/previews/:resource',
    body: 'none',
    destructive: true,
  },
  // triggers
  { method: 'POST', path: '/v1/berth/triggers', body: 'trigger' },
  { method: 'GET', path: '/v1/berth/triggers', body: 'none', query: ['limit', 'page', 'session_id'] },
  { method: 'GET', path: '/v1/berth/triggers/:trigger', body: 'none' },
  { method: 'POST', path: '/v1/berth/triggers/:trigger', body: 'trigger' },
  { method: 'DELETE', path: '/v1/berth/triggers/:trigger', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/berth/triggers/:trigger/rotate_secret', body: 'none' },
  { method: 'GET', path: '/v1/berth/triggers/:trigger/runs', body: 'none', query: ['limit', 'page'] },
  // Public (the trigger's secret, which the fuzzer never has): every delivery is refused before it could fire.
  { method: 'POST', path: '/v1/berth/triggers/:trigger/hook', body: 'none' },
  { method: 'POST', path: '/v1/berth/sessions/:session/hibernate', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/berth/sessions/:session/resume', body: 'none' },
  // webhooks
  { method: 'POST', path: '/v1/berth/webhooks', body: 'webhook' },
  { method: 'GET', path: '/v1/berth/webhooks', body: 'none', query: ['limit', 'page'] },
  { method: 'GET', path: '/v1/berth/webhooks/:webhook', body: 'none' },
  { method: 'POST', path: '/v1/berth/webhooks/:webhook', body: 'webhook' },
  { method: 'DELETE', path: '/v1/berth/webhooks/:webhook', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/berth/webhooks/:webhook/rotate_secret', body: 'rotate' },
  { method: 'GET', path: '/v1/berth/webhooks/:webhook/deliveries', body: 'none', query: ['limit', 'page', 'status'] },
  { method: 'GET', path: '/v1/berth/webhooks/:webhook/deliveries/:delivery', body: 'none' },
  { method: 'POST', path: '/v1/berth/webhooks/:webhook/deliveries/:delivery/redeliver', body: 'none' },
  // admin: tenants, API keys, audit log (admin keys only)
  { method: 'POST', path: '/v1/berth/admin/tenants', body: 'tenant' },
  { method: 'GET', path: '/v1/berth/admin/tenants', body: 'none', query: ['limit', 'page', 'include_archived'] },
  { method: 'GET', path: '/v1/berth/admin/tenants/:tenant', body: 'none' },
  { method: 'POST', path: '/v1/berth/admin/tenants/:tenant', body: 'tenant' },
  { method: 'POST', path: '/v1/berth/admin/tenants/:tenant/archive', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/berth/admin/keys', body: 'apiKey' },
  {
    method: 'GET',
    path: '/v1/berth/admin/keys',
    body: 'none',
    query: ['limit', 'page', 'tenant_id', 'include_inactive'],
  },
  { method: 'GET', path: '/v1/berth/admin/keys/:key', body: 'none' },
  { method: 'POST', path: '/v1/berth/admin/keys/:key/revoke', body: 'none', destructive: true },
  { method: 'POST', path: '/v1/berth/admin/keys/:key/rotate', body: 'keyRotate', destructive: true },
  {
    method: 'GET',
    path: '/v1/berth/admin/audit',
    body: 'none',
    query: ['limit', 'page', 'tenant_id', 'created_at[gte]', 'created_at[lt]'],
  },
];

/** A route as `METHOD /path/:p` with parameter names erased, to compare with what fastify registered. */
export function routeKey(method: string, path: string): string {
  return `${method} ${path.replace(/:\w+(?:\|:\w+)*/g, ':p')}`;
}
