import { expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import type { Store } from './store.js';
import { DuplicateCredentialError, type VaultCredentialRecord, type VaultRecord } from './vault-types.js';

/** The vault cases of the store conformance suite; called inside its describe block. */
export function vaultConformance(ctx: { store: () => Store; now: () => string }): void {
  const vault = (now: string, name = 'v'): VaultRecord => ({
    id: newId('vault'),
    tenant_id: 'default',
    display_name: name,
    metadata: { user: 'u1' },
    created_at: now,
    updated_at: now,
    archived_at: null,
  });
  const cred = (vaultId: string, now: string, match = 'url:https://mcp.example.com/sse'): VaultCredentialRecord => ({
    id: newId('vaultCredential'),
    vault_id: vaultId,
    display_name: null,
    metadata: {},
    auth: { type: 'static_bearer', mcp_server_url: match.slice(4) },
    match_key: match,
    secret: { key_id: '0123456789abcdef', nonce: 'bm9uY2U=', ciphertext: 'Y2lwaGVy+/==', tag: 'dGFn' },
    created_at: now,
    updated_at: now,
    archived_at: null,
  });

  it('stores vaults faithfully, pages them and hides archived ones', async () => {
    const store = ctx.store();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const v = vault(ctx.now(), `v${i}`);
      ids.push(v.id);
      await store.createVault(v);
      expect(await store.getVault(v.id)).toEqual(v);
    }
    const v0 = (await store.getVault(ids[0]!))!;
    await store.putVault({ ...v0, display_name: 'renamed', metadata: {} });
    expect(await store.getVault(ids[0]!)).toMatchObject({ display_name: 'renamed', metadata: {} });
    await store.archiveVault(ids[1]!, ctx.now());
    const p1 = await store.listVaults({ limit: 1 });
    const p2 = await store.listVaults({ limit: 1, page: p1.next! });
    expect([...p1.data, ...p2.data].map((v) => v.id)).toEqual([ids[2], ids[0]]);
    expect(p2.next).toBeNull();
    expect((await store.listVaults({ limit: 10, includeArchived: true })).data).toHaveLength(3);
    expect(await store.getVault('vlt_missing')).toBeUndefined();
  });

  it('keeps credentials per vault with their sealed secret, one active per match key', async () => {
    const store = ctx.store();
    const v = vault(ctx.now());
    const other = vault(ctx.now());
    await store.createVault(v);
    await store.createVault(other);
    const a = cred(v.id, ctx.now());
    await store.createCredential(a);
    expect(await store.getCredential(v.id, a.id)).toEqual(a);
    expect(await store.getCredential(other.id, a.id)).toBeUndefined();
    await expect(store.createCredential(cred(v.id, ctx.now()))).rejects.toBeInstanceOf(DuplicateCredentialError);
    await store.createCredential(cred(other.id, ctx.now())); // same URL, another vault: fine
    const b = cred(v.id, ctx.now(), 'env:GITHUB_TOKEN');
    await store.createCredential(b);
    const updated = { ...b, metadata: { k: 'v' }, secret: { ...b.secret!, nonce: 'bmV3' } };
    await store.putCredential(updated);
    expect(await store.getCredential(v.id, b.id)).toEqual(updated);
    expect((await store.activeCredentials(v.id)).map((c) => c.id)).toEqual([a.id, b.id]);
    const listed = await store.listCredentials(v.id, { limit: 1 });
    const rest = await store.listCredentials(v.id, { limit: 1, page: listed.next! });
    expect([...listed.data, ...rest.data].map((c) => c.id)).toEqual([b.id, a.id]);

    // Archiving purges the secret, keeps the public fields, and frees the match key.
    const archived = await store.archiveCredential(v.id, a.id, ctx.now());
    expect(archived).toMatchObject({ id: a.id, secret: null, auth: a.auth });
    expect(archived?.archived_at).not.toBeNull();
    await store.createCredential(cred(v.id, ctx.now()));
    expect((await store.listCredentials(v.id, { limit: 10 })).data).toHaveLength(2);
    expect((await store.listCredentials(v.id, { limit: 10, includeArchived: true })).data).toHaveLength(3);
    expect(await store.deleteCredential(other.id, b.id)).toBe(false);
    expect(await store.deleteCredential(v.id, b.id)).toBe(true);
  });

  it('archives a vault with its credentials, and deletes a vault with its credentials', async () => {
    const store = ctx.store();
    const v = vault(ctx.now());
    await store.createVault(v);
    const c = cred(v.id, ctx.now());
    await store.createCredential(c);
    const archived = await store.archiveVault(v.id, ctx.now());
    expect(archived?.archived_at).not.toBeNull();
    expect(await store.activeCredentials(v.id)).toEqual([]);
    expect(await store.getCredential(v.id, c.id)).toMatchObject({ secret: null });
    expect(await store.deleteVault(v.id)).toBe(true);
    expect(await store.getCredential(v.id, c.id)).toBeUndefined();
    expect(await store.deleteVault(v.id)).toBe(false);
  });
}
