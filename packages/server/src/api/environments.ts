import type { FastifyRequest } from 'fastify';
import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import type { EnvironmentRecord, JsonObject } from '../store/store.js';
import { ListQuerySchema, MetadataPatchSchema, MetadataSchema, checkId, patchMetadata, rangeFrom } from './common.js';
import type { RouteModule } from './context.js';
import { storeOf } from './tenancy.js';
import { parseInput } from './validate.js';
import { checkHostRule } from '../egress/hosts.js';
import { ResourcesSchema, resolveResources, resourceDefaults, type Resources } from '../resources.js';
import { capabilitiesOf } from './drivers.js';
import { LifecycleSchema, lifecycleDefaults, refuseSharedConflicts, resolveLifecycle } from '../lifecycle.js';

/** Environment config (§4): stored faithfully; networking is enforced by the egress proxy (egress/). */

const PKG_MANAGERS = ['apt', 'cargo', 'gem', 'go', 'npm', 'pip'] as const;
const pkgList = z.array(z.string().min(1).max(256)).max(500);

/** An `allowed_hosts` entry: checked here so a too-broad or malformed pattern is refused with the reason. */
const AllowedHost = z.string().min(1).max(262).superRefine(checkHostRule);

const Networking = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('unrestricted') }),
  z.strictObject({
    type: z.literal('limited'),
    allowed_hosts: z.array(AllowedHost).max(1000).optional(),
    allow_mcp_servers: z.boolean().optional(),
    allow_package_managers: z.boolean().optional(),
  }),
]);

const Packages = z.strictObject({
  type: z.literal('packages').optional(),
  apt: pkgList.optional(),
  cargo: pkgList.optional(),
  gem: pkgList.optional(),
  go: pkgList.optional(),
  npm: pkgList.optional(),
  pip: pkgList.optional(),
});

const Config = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('cloud'), networking: Networking.optional(), packages: Packages.optional() }),
  z.strictObject({ type: z.literal('self_hosted') }),
]);

/** Berth's additions on an environment. Only what this build enforces is accepted; the rest is refused, not ignored. */
export const EnvBerthSchema = z.strictObject({
  /** Checked against the server's enabled drivers by the routes (`capabilitiesOf`). */
  driver: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, "berth.driver must be a driver name such as 'bwrap' or 'gvisor'")
    .optional(),
  resources: ResourcesSchema.optional(),
  /** The lifecycle policy of its sessions (a session may override it); see lifecycle.ts. */
  lifecycle: LifecycleSchema.optional(),
  /** Most live sessions of this environment at once (null: only the server's limit). */
  max_sessions: z.number().int().min(1).max(1_000_000).nullable().optional(),
  /** Ready sandboxes (runner and CLI started) kept for this environment's next sessions; see sessions/warm-pool.ts. */
  warm_pool: z.strictObject({ size: z.number().int().min(0).max(16) }).optional(),
});

const EnvCreate = z.strictObject({
  name: z.string().min(1).max(256),
  description: z.string().max(2048).nullable().optional(),
  config: Config.optional(),
  metadata: MetadataSchema.optional(),
  scope: z.enum(['organization', 'account']).optional(),
  berth: EnvBerthSchema.optional(),
});

const EnvUpdate = z.strictObject({
  name: z.string().min(1).max(256).optional(),
  description: z.string().max(2048).nullable().optional(),
  config: Config.optional(),
  metadata: MetadataPatchSchema.optional(),
  scope: z.enum(['organization', 'account']).optional(),
  berth: EnvBerthSchema.optional(),
});

/** The response form of a config: `packages` has all six lists, `limited` networking all three fields. */
export function resolveConfig(c: z.infer<typeof Config> | undefined): JsonObject {
  if (!c) c = { type: 'cloud' };
  if (c.type === 'self_hosted') return { type: 'self_hosted' };
  // Berth is deny-by-default: a cloud environment without networking gets `limited` with nothing allowed.
  const n = c.networking ?? { type: 'limited' };
  const networking: JsonObject =
    n.type === 'unrestricted'
      ? { type: 'unrestricted' }
      : {
          type: 'limited',
          allowed_hosts: n.allowed_hosts ?? [],
          allow_mcp_servers: n.allow_mcp_servers ?? false,
          allow_package_managers: n.allow_package_managers ?? false,
        };
  const packages: JsonObject = { type: 'packages' };
  for (const m of PKG_MANAGERS) packages[m] = c.packages?.[m] ?? [];
  const anyPackages = PKG_MANAGERS.some((m) => (packages[m] as string[]).length > 0);
  if (networking.type === 'limited' && anyPackages && networking.allow_package_managers !== true) {
    throw new ApiError(
      'invalid_request',
      'config.packages needs the package registries: with limited networking set config.networking.allow_package_managers to true.',
    );
  }
  return { type: 'cloud', networking, packages };
}

export function serializeEnvironment(e: EnvironmentRecord): object {
  return {
    id: e.id,
    type: 'environment',
    name: e.name,
    description: e.description,
    config: e.config,
    metadata: e.metadata,
    ...(e.scope ? { scope: e.scope } : {}),
    berth: e.berth,
    created_at: e.created_at,
    updated_at: e.updated_at,
    archived_at: e.archived_at,
  };
}

const IdParams = z.object({ id: z.string() });

/** environments: create, retrieve, update, list, delete, archive. */
export const environmentRoutes: RouteModule = (app, { clock, config, drivers, sessions }) => {
  const poolSize = (e: EnvironmentRecord) =>
    e.archived_at ? 0 : ((e.berth.warm_pool as { size?: number } | undefined)?.size ?? 0);
  const defaults = resourceDefaults(config);
  const lifecycle = lifecycleDefaults(config);
  const resources = (r: Resources | undefined, driver: string) =>
    resolveResources(r, defaults, capabilitiesOf(drivers, driver));
  const load = async (req: FastifyRequest, id: string) => {
    checkId('environment', 'env_', id);
    const e = await storeOf(req).getEnvironment(id);
    if (!e) throw notFound('environment', id);
    return e;
  };

  app.post('/v1/environments', async (req) => {
    const store = storeOf(req);
    const b = parseInput(EnvCreate, req.body);
    const now = clock();
    const env: EnvironmentRecord = {
      id: newId('environment'),
      name: b.name,
      description: b.description ?? null,
      config: resolveConfig(b.config),
      metadata: b.metadata ?? {},
      scope: b.scope ?? null,
      berth: {
        driver: b.berth?.driver ?? 'bwrap',
        resources: resources(b.berth?.resources, b.berth?.driver ?? 'bwrap'),
        lifecycle: resolveLifecycle(b.berth?.lifecycle, lifecycle),
        max_sessions: b.berth?.max_sessions ?? null,
        warm_pool: { size: b.berth?.warm_pool?.size ?? 0 },
      },
      created_at: now,
      updated_at: now,
      archived_at: null,
    };
    refuseSharedConflicts(env.berth);
    await store.createEnvironment(env);
    sessions.warmPoolChanged(env.id, poolSize(env));
    return serializeEnvironment(env);
  });

  app.get('/v1/environments/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    return serializeEnvironment(await load(req, id));
  });

  /** A resources object replaces the previous one (limits it leaves out fall back to the defaults); a new driver
   * re-checks the kept limits against what it can enforce. */
  const updatedBerth = (
    b: z.infer<typeof EnvBerthSchema>,
    cur: EnvironmentRecord['berth'],
  ): EnvironmentRecord['berth'] => {
    const driver = b.driver ?? (cur.driver as string | undefined) ?? 'bwrap';
    const kept = cur.resources === undefined ? undefined : ResourcesSchema.parse(cur.resources);
    // Like resources, a lifecycle object replaces the previous one; an environment made before lifecycles existed
    // gets the defaults.
    const keptLifecycle = cur.lifecycle === undefined ? undefined : LifecycleSchema.parse(cur.lifecycle);
    return {
      driver,
      resources: resources(b.resources ?? kept, driver),
      lifecycle: resolveLifecycle(b.lifecycle ?? keptLifecycle, lifecycle),
      max_sessions: b.max_sessions !== undefined ? b.max_sessions : ((cur.max_sessions as number | null) ?? null),
      warm_pool: b.warm_pool ?? (cur.warm_pool as { size: number } | undefined) ?? { size: 0 },
    };
  };

  app.post('/v1/environments/:id', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(EnvUpdate, req.body ?? {});
    const cur = await load(req, id);
    if (cur.archived_at) {
      throw new ApiError(
        'environment_archived',
        `Environment '${id}' is archived and read-only. Create a new environment.`,
      );
    }
    if (b.config && b.config.type !== cur.config.type) {
      throw new ApiError(
        'invalid_config_type_change',
        `config.type cannot change from '${cur.config.type as string}' to '${b.config.type}'. Create a new environment instead.`,
      );
    }
    const next: EnvironmentRecord = {
      ...cur,
      name: b.name ?? cur.name,
      description: b.description === undefined ? cur.description : b.description,
      config: b.config ? resolveConfig(b.config) : cur.config,
      metadata: patchMetadata(cur.metadata, b.metadata, true),
      scope: b.scope ?? cur.scope,
      berth: b.berth ? updatedBerth(b.berth, cur.berth) : cur.berth,
      updated_at: clock(),
    };
    refuseSharedConflicts(next.berth);
    await store.putEnvironment(next);
    sessions.warmPoolChanged(id, poolSize(next));
    return serializeEnvironment(next);
  });

  app.get('/v1/environments', async (req) => {
    const store = storeOf(req);
    const q = parseInput(ListQuerySchema, req.query, 'query');
    const page = await store.listEnvironments({
      limit: q.limit,
      page: q.page,
      includeArchived: q.include_archived ?? false,
      createdAt: rangeFrom(q, 'created_at'),
    });
    return { data: page.data.map(serializeEnvironment), next_page: page.next };
  });

  app.delete('/v1/environments/:id', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    const live = await store.countLiveSessions(id);
    if (live > 0) {
      throw new ApiError(
        'environment_in_use',
        `Environment '${id}' still has ${live} session(s). Delete or archive them first, or archive the environment.`,
        {},
        false,
      );
    }
    await store.deleteEnvironment(id);
    sessions.warmPoolChanged(id, 0);
    return { id, type: 'environment_deleted' };
  });

  app.post('/v1/environments/:id/archive', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    const cur = await load(req, id);
    if (cur.archived_at) return serializeEnvironment(cur);
    const next = { ...cur, archived_at: clock(), updated_at: clock() };
    await store.putEnvironment(next);
    sessions.warmPoolChanged(id, 0);
    return serializeEnvironment(next);
  });
};
