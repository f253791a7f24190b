import type { FastifyRequest } from 'fastify';
import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import type { VaultRecord } from '../store/store.js';
import { ListQuerySchema, checkId, patchMetadata, rangeFrom } from './common.js';
import type { RouteModule } from './context.js';
import { storeOf } from './tenancy.js';
import { VaultCreateSchema, VaultUpdateSchema } from './vaults-schema.js';
import { parseInput } from './validate.js';

/** The wire form of a vault (SDK `BetaManagedAgentsVault`). */
export function serializeVault(v: VaultRecord): object {
  return {
    id: v.id,
    type: 'vault',
    display_name: v.display_name,
    metadata: v.metadata,
    created_at: v.created_at,
    updated_at: v.updated_at,
    archived_at: v.archived_at,
  };
}

const IdParams = z.object({ id: z.string() });

/** vaults: create, retrieve, update, list, delete, archive. Credentials live in credentials.ts. */
export const vaultRoutes: RouteModule = (app, { clock }) => {
  const load = async (req: FastifyRequest, id: string) => {
    checkId('vault', 'vlt_', id);
    const v = await storeOf(req).getVault(id);
    if (!v) throw notFound('vault', id);
    return v;
  };

  app.post('/v1/vaults', async (req) => {
    const store = storeOf(req);
    const b = parseInput(VaultCreateSchema, req.body);
    const now = clock();
    const vault: VaultRecord = {
      id: newId('vault'),
      display_name: b.display_name,
      metadata: b.metadata ?? {},
      created_at: now,
      updated_at: now,
      archived_at: null,
    };
    await store.createVault(vault);
    return serializeVault(vault);
  });

  app.get('/v1/vaults/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    return serializeVault(await load(req, id));
  });

  app.post('/v1/vaults/:id', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(VaultUpdateSchema, req.body ?? {});
    const v = await load(req, id);
    if (v.archived_at) throw new ApiError('vault_archived', `Vault '${id}' is archived and read-only.`);
    const next: VaultRecord = {
      ...v,
      display_name: b.display_name ?? v.display_name,
      metadata: patchMetadata(v.metadata, b.metadata ?? undefined),
    };
    if (JSON.stringify(next) === JSON.stringify(v)) return serializeVault(v);
    next.updated_at = clock();
    await store.putVault(next);
    return serializeVault(next);
  });

  app.get('/v1/vaults', async (req) => {
    const store = storeOf(req);
    const q = parseInput(ListQuerySchema, req.query, 'query');
    const page = await store.listVaults({
      limit: q.limit,
      page: q.page,
      includeArchived: q.include_archived ?? false,
      createdAt: rangeFrom(q, 'created_at'),
    });
    return { data: page.data.map(serializeVault), next_page: page.next };
  });

  app.delete('/v1/vaults/:id', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    await store.deleteVault(id);
    return { id, type: 'vault_deleted' };
  });

  app.post('/v1/vaults/:id/archive', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    return serializeVault((await store.archiveVault(id, clock()))!);
  });
};
