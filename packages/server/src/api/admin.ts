import { ApiError, notFound } from '../errors.js';
import { DEFAULT_TENANT, DuplicateKeyPrefixError, type ApiKeyRecord, type Store } from '../store/store.js';
import { generateKey, newTenancyId } from '../tenants/keys.js';
import {
  AuditListQuery,
  KeyCreateSchema,
  KeyListQuery,
  KeyRotateSchema,
  TenantCreateSchema,
  TenantListQuery,
  TenantUpdateSchema,
  serializeAudit,
  serializeKey,
  serializeTenant,
} from './admin-schema.js';
import { patchMetadata, rangeFrom } from './common.js';
import type { RouteModule } from './context.js';
import { parseInput } from './validate.js';
import { z } from 'zod';

const IdParams = z.object({ id: z.string().max(128) });

/**
 * The admin API: tenants, API keys and the audit log (docs/api.md "Tenants and API keys"). Only admin keys reach
 * these routes (the auth hook answers 403 to others), so they use the unscoped store. A key's secret is returned
 * once, by create and rotate; afterwards only its prefix is shown.
 */
export const adminRoutes: RouteModule = (app, { store, clock, tenantBudgets }) => {
  const tenant = async (id: string) => {
    const t = await store.getTenant(id);
    if (!t) throw notFound('tenant', id);
    return t;
  };
  const key = async (id: string) => {
    const k = await store.getApiKey(id);
    if (!k) throw notFound('API key', id);
    return k;
  };

  app.post('/v1/berth/admin/tenants', async (req) => {
    const b = parseInput(TenantCreateSchema, req.body);
    const now = clock();
    const t = {
      id: newTenancyId('tenant'),
      name: b.name,
      metadata: b.metadata ?? {},
      budget: b.budget ?? null,
      ...stamps(now),
    };
    await store.createTenant(t);
    return serializeTenant(t, await tenantBudgets.spend(t));
  });
  app.get('/v1/berth/admin/tenants', async (req) => {
    const q = parseInput(TenantListQuery, req.query, 'query');
    const p = await store.listTenants({ limit: q.limit, page: q.page, includeArchived: q.include_archived ?? false });
    return { data: p.data.map((t) => serializeTenant(t)), next_page: p.next };
  });
  app.get('/v1/berth/admin/tenants/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const t = await tenant(id);
    return serializeTenant(t, await tenantBudgets.spend(t));
  });
  app.post('/v1/berth/admin/tenants/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(TenantUpdateSchema, req.body ?? {});
    const t = await tenant(id);
    if (t.archived_at) throw new ApiError('invalid_request', `Tenant '${id}' is archived and read-only.`);
    const updated = await store.updateTenant(id, {
      ...(b.name !== undefined ? { name: b.name } : {}),
      ...(b.metadata !== undefined ? { metadata: patchMetadata(t.metadata, b.metadata) } : {}),
      ...(b.budget !== undefined ? { budget: b.budget } : {}),
      updated_at: clock(),
    });
    return serializeTenant(updated!, await tenantBudgets.spend(updated!));
  });
  app.post('/v1/berth/admin/tenants/:id/archive', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    await tenant(id);
    if (id === DEFAULT_TENANT) {
      throw new ApiError('invalid_request', `The built-in '${DEFAULT_TENANT}' tenant cannot be archived.`);
    }
    return serializeTenant((await store.archiveTenant(id, clock()))!);
  });

  app.post('/v1/berth/admin/keys', async (req, reply) => {
    const b = parseInput(KeyCreateSchema, req.body);
    if (b.tenant_id !== undefined) {
      const t = await tenant(b.tenant_id);
      if (t.archived_at) throw new ApiError('invalid_request', `Tenant '${t.id}' is archived; its keys cannot work.`);
    }
    const created = await issueKey(store, {
      tenant_id: b.tenant_id ?? null,
      scope: b.scope,
      name: b.name ?? null,
      expires_at: b.expires_at ?? null,
      created_at: clock(),
    });
    void reply.header('cache-control', 'no-store');
    return { ...serializeKey(created.record, clock()), secret: created.key };
  });
  app.get('/v1/berth/admin/keys', async (req) => {
    const q = parseInput(KeyListQuery, req.query, 'query');
    const now = clock();
    const p = await store.listApiKeys({
      limit: q.limit,
      page: q.page,
      tenant: q.tenant_id,
      includeInactive: q.include_inactive ?? false,
      now,
    });
    return { data: p.data.map((k) => serializeKey(k, now)), next_page: p.next };
  });
  app.get('/v1/berth/admin/keys/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    return serializeKey(await key(id), clock());
  });
  app.post('/v1/berth/admin/keys/:id/revoke', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const k = await key(id);
    const now = clock();
    const done = k.revoked_at === null ? await store.updateApiKey(id, { revoked_at: now }) : k;
    return serializeKey(done!, now);
  });
  app.post('/v1/berth/admin/keys/:id/rotate', async (req, reply) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(KeyRotateSchema, req.body ?? {});
    const old = await key(id);
    const now = clock();
    if (old.revoked_at !== null || (old.expires_at !== null && old.expires_at <= now)) {
      throw new ApiError('invalid_request', `API key '${id}' is no longer active; create a new key instead.`);
    }
    const created = await issueKey(store, {
      tenant_id: old.tenant_id,
      scope: old.scope,
      name: old.name,
      expires_at: null,
      created_at: now,
    });
    const grace = b.grace_seconds ?? 0;
    const graceEnd = new Date(Date.parse(now) + grace * 1000).toISOString();
    // An old key that would expire sooner anyway keeps its own end.
    const patch =
      grace === 0
        ? { revoked_at: now, replaced_by: created.record.id }
        : {
            expires_at: old.expires_at !== null && old.expires_at < graceEnd ? old.expires_at : graceEnd,
            replaced_by: created.record.id,
          };
    const updated = await store.updateApiKey(id, patch);
    void reply.header('cache-control', 'no-store');
    return { ...serializeKey(created.record, now), secret: created.key, previous: serializeKey(updated!, now) };
  });

  app.get('/v1/berth/admin/audit', async (req) => {
    const q = parseInput(AuditListQuery, req.query, 'query');
    const p = await store.listAudit({
      limit: q.limit,
      page: q.page,
      tenant: q.tenant_id,
      createdAt: rangeFrom(q, 'created_at'),
    });
    return { data: p.data.map(serializeAudit), next_page: p.next };
  });
};

function stamps(now: string) {
  return { created_at: now, updated_at: now, archived_at: null };
}

/** Stores a new key (drawing again in the unlikely case its prefix is taken) and returns it with its secret. */
async function issueKey(
  store: Store,
  fields: Pick<ApiKeyRecord, 'tenant_id' | 'scope' | 'name' | 'expires_at' | 'created_at'>,
): Promise<{ key: string; record: ApiKeyRecord }> {
  for (let attempt = 0; ; attempt++) {
    const { key, prefix, hash } = generateKey();
    const record: ApiKeyRecord = {
      ...fields,
      id: newTenancyId('key'),
      prefix,
      hash,
      revoked_at: null,
      replaced_by: null,
    };
    try {
      await store.createApiKey(record);
      return { key, record };
    } catch (err) {
      if (!(err instanceof DuplicateKeyPrefixError) || attempt >= 3) throw err;
    }
  }
}
