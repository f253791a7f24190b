import type { FastifyRequest } from 'fastify';
import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import { DuplicateCredentialError, type VaultCredentialRecord } from '../store/store.js';
import { VaultSecretError } from '../vaults/service.js';
import { ListQuerySchema, checkId, patchMetadata, rangeFrom } from './common.js';
import type { RouteModule } from './context.js';
import { storeOf } from './tenancy.js';
import { applyUpdate, fromCreate, matchKey } from './credential-auth.js';
import { CredentialCreateSchema, CredentialUpdateSchema } from './vaults-schema.js';
import { parseInput } from './validate.js';

/** The wire form of a credential (SDK `BetaManagedAgentsCredential`): public fields only, never a secret. */
export function serializeCredential(c: VaultCredentialRecord): object {
  return {
    id: c.id,
    type: 'vault_credential',
    vault_id: c.vault_id,
    display_name: c.display_name,
    metadata: c.metadata,
    auth: c.auth,
    created_at: c.created_at,
    updated_at: c.updated_at,
    archived_at: c.archived_at,
  };
}

/** At most this many active credentials per vault (bounds what one session resolves at egress). */
export const MAX_CREDENTIALS_PER_VAULT = 20;

const VaultParams = z.object({ vid: z.string() });
const CredParams = z.object({ vid: z.string(), cid: z.string() });

/** credentials of a vault: create, retrieve, update, list, delete, archive; mcp_oauth_validate is refused. */
export const credentialRoutes: RouteModule = (app, { vaults, clock }) => {
  const loadVault = async (req: FastifyRequest, vid: string) => {
    checkId('vault', 'vlt_', vid);
    const v = await storeOf(req).getVault(vid);
    if (!v) throw notFound('vault', vid);
    return v;
  };
  const load = async (req: FastifyRequest, vid: string, cid: string) => {
    await loadVault(req, vid);
    checkId('vault credential', 'vcrd_', cid);
    const c = await storeOf(req).getCredential(vid, cid);
    if (!c) throw notFound('vault credential', cid);
    return c;
  };
  const conflict = (vid: string, c: VaultCredentialRecord) => {
    const what = c.auth.type === 'environment_variable' ? 'secret_name' : 'mcp_server_url';
    return new ApiError(
      'vault_credential_conflict',
      `Vault '${vid}' already has an active credential with this ${what}. Update or archive that credential instead.`,
      {},
      false,
    );
  };

  app.post('/v1/vaults/:vid/credentials', async (req) => {
    const store = storeOf(req);
    const { vid } = parseInput(VaultParams, req.params, 'path');
    const b = parseInput(CredentialCreateSchema, req.body);
    const vault = await loadVault(req, vid);
    if (vault.archived_at)
      throw new ApiError('vault_archived', `Vault '${vid}' is archived; add credentials to an active vault.`);
    if ((await store.activeCredentials(vid)).length >= MAX_CREDENTIALS_PER_VAULT) {
      throw new ApiError(
        'invalid_request',
        `Vault '${vid}' already holds ${MAX_CREDENTIALS_PER_VAULT} active credentials, the most a vault can hold. Archive one first, or use another vault.`,
      );
    }
    const { auth, secrets } = fromCreate(b.auth);
    const id = newId('vaultCredential');
    const now = clock();
    const cred: VaultCredentialRecord = {
      id,
      vault_id: vid,
      display_name: b.display_name ?? null,
      metadata: b.metadata ?? {},
      auth,
      match_key: matchKey(auth),
      secret: vaults.seal(id, secrets),
      created_at: now,
      updated_at: now,
      archived_at: null,
    };
    try {
      await store.createCredential(cred);
    } catch (err) {
      if (err instanceof DuplicateCredentialError) throw conflict(vid, cred);
      throw err;
    }
    return serializeCredential(cred);
  });

  app.get('/v1/vaults/:vid/credentials/:cid', async (req) => {
    const { vid, cid } = parseInput(CredParams, req.params, 'path');
    return serializeCredential(await load(req, vid, cid));
  });

  app.post('/v1/vaults/:vid/credentials/:cid', async (req) => {
    const store = storeOf(req);
    const { vid, cid } = parseInput(CredParams, req.params, 'path');
    const b = parseInput(CredentialUpdateSchema, req.body ?? {});
    const c = await load(req, vid, cid);
    if (c.archived_at) {
      throw new ApiError(
        'vault_credential_archived',
        `Credential '${cid}' is archived and read-only; create a new one.`,
      );
    }
    const open = () => {
      try {
        return vaults.open(c);
      } catch (err) {
        if (!(err instanceof VaultSecretError)) throw err;
        throw new ApiError(
          'invalid_request',
          `The stored secret of credential '${cid}' cannot be decrypted with berthd's vault master key, so it cannot be partly updated. Archive it and create a new one.`,
        );
      }
    };
    const upd = b.auth ? applyUpdate(c.auth, b.auth, open) : { auth: c.auth, secrets: undefined };
    const next: VaultCredentialRecord = {
      ...c,
      auth: upd.auth,
      display_name: b.display_name === undefined ? c.display_name : b.display_name,
      metadata: patchMetadata(c.metadata, b.metadata ?? undefined),
      secret: upd.secrets ? vaults.seal(c.id, upd.secrets) : c.secret,
    };
    if (JSON.stringify(next) === JSON.stringify(c)) return serializeCredential(c);
    next.updated_at = clock();
    await store.putCredential(next);
    return serializeCredential(next);
  });

  app.get('/v1/vaults/:vid/credentials', async (req) => {
    const store = storeOf(req);
    const { vid } = parseInput(VaultParams, req.params, 'path');
    const q = parseInput(ListQuerySchema, req.query, 'query');
    await loadVault(req, vid);
    const page = await store.listCredentials(vid, {
      limit: q.limit,
      page: q.page,
      includeArchived: q.include_archived ?? false,
      createdAt: rangeFrom(q, 'created_at'),
    });
    return { data: page.data.map(serializeCredential), next_page: page.next };
  });

  app.delete('/v1/vaults/:vid/credentials/:cid', async (req) => {
    const store = storeOf(req);
    const { vid, cid } = parseInput(CredParams, req.params, 'path');
    await load(req, vid, cid);
    await store.deleteCredential(vid, cid);
    return { id: cid, type: 'vault_credential_deleted' };
  });

  app.post('/v1/vaults/:vid/credentials/:cid/archive', async (req) => {
    const store = storeOf(req);
    const { vid, cid } = parseInput(CredParams, req.params, 'path');
    await load(req, vid, cid);
    return serializeCredential((await store.archiveCredential(vid, cid, clock()))!);
  });

  app.post('/v1/vaults/:vid/credentials/:cid/mcp_oauth_validate', async (req) => {
    const { vid, cid } = parseInput(CredParams, req.params, 'path');
    const c = await load(req, vid, cid);
    if (c.auth.type !== 'mcp_oauth') {
      throw new ApiError(
        'invalid_request',
        `Credential '${cid}' is ${c.auth.type as string}; only mcp_oauth credentials can be validated.`,
      );
    }
    throw new ApiError(
      'unsupported_feature',
      'This Berth build does not probe MCP servers or refresh OAuth tokens, so it cannot validate credentials. The stored access token is used as is until it is updated.',
    );
  });
};
