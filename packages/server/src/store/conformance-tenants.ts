import { expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import type { Store } from './store.js';
import { TenantStore } from './tenant-scope.js';
import { triggerFixture } from './conformance-triggers.js';
import { endpointFixture, SEALED } from './conformance-webhooks.js';
import { DEFAULT_TENANT, DuplicateKeyPrefixError, type ApiKeyRecord, type TenantRecord } from './tenant-types.js';
import { agentRecord, envRecord, sessionRecord } from './records.test-support.js';

/** Tenants, API keys, the audit log and tenant isolation: cases of the store conformance suite. */
export function tenantConformance(ctx: { store: () => Store; now: () => string }): void {
  const tenant = (name: string): TenantRecord => {
    const now = ctx.now();
    return {
      id: `tenant_${name}_${newId('request').slice(-8)}`,
      name,
      metadata: { k: name },
      budget: null,
      ...at(now),
    };
  };
  const key = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
    id: `key_${newId('request').slice(-12)}`,
    tenant_id: null,
    scope: 'admin',
    name: null,
    prefix: `bsk_live_${newId('request').slice(-8)}`,
    hash: 'ab'.repeat(32),
    created_at: ctx.now(),
    expires_at: null,
    revoked_at: null,
    replaced_by: null,
    ...over,
  });

  it('has the built-in default tenant; creates, lists and archives tenants', async () => {
    const store = ctx.store();
    expect((await store.getTenant(DEFAULT_TENANT))?.name).toBe(DEFAULT_TENANT);
    const a = tenant('a');
    const b = tenant('b');
    await store.createTenant(a);
    await store.createTenant(b);
    expect(await store.getTenant(a.id)).toEqual(a);
    // The default tenant is stamped with the wall clock at migration, the others with the test clock: compare ours.
    const listed = await store.listTenants({ limit: 100 });
    expect(listed.data.map((t) => t.id).filter((id) => id !== DEFAULT_TENANT)).toEqual([b.id, a.id]);
    const first = await store.listTenants({ limit: 1 });
    const second = await store.listTenants({ limit: 1, page: first.next! });
    expect(second.data[0]?.id).not.toBe(first.data[0]?.id);
    const archived = await store.archiveTenant(a.id, ctx.now());
    expect(archived?.archived_at).not.toBeNull();
    const active = await store.listTenants({ limit: 100 });
    expect(active.data.map((t) => t.id)).not.toContain(a.id);
    expect((await store.listTenants({ limit: 100, includeArchived: true })).data.map((t) => t.id)).toContain(a.id);
  });

  it('stores API keys by prefix, refuses a duplicate prefix, lists active ones per tenant', async () => {
    const store = ctx.store();
    const t = tenant('k');
    await store.createTenant(t);
    const k1 = key({ tenant_id: t.id, scope: 'read', name: 'ci' });
    const k2 = key({ tenant_id: t.id, scope: 'write' });
    const admin = key();
    for (const k of [k1, k2, admin]) await store.createApiKey(k);
    expect(await store.findApiKeyByPrefix(k1.prefix)).toEqual(k1);
    expect(await store.getApiKey(k2.id)).toEqual(k2);
    await expect(store.createApiKey(key({ prefix: k1.prefix }))).rejects.toBeInstanceOf(DuplicateKeyPrefixError);
    expect((await store.listApiKeys({ limit: 10, tenant: t.id })).data.map((k) => k.id)).toEqual([k2.id, k1.id]);
    const now = ctx.now();
    await store.updateApiKey(k1.id, { revoked_at: now, replaced_by: k2.id });
    await store.updateApiKey(k2.id, { expires_at: now });
    expect((await store.listApiKeys({ limit: 10, tenant: t.id, now })).data).toEqual([]);
    const all = await store.listApiKeys({ limit: 10, tenant: t.id, includeInactive: true });
    expect(all.data.map((k) => [k.id, k.revoked_at, k.expires_at, k.replaced_by])).toEqual([
      [k2.id, null, now, null],
      [k1.id, now, null, k2.id],
    ]);
  });

  it('records the audit log and lists it newest first, by tenant and time range, in pages', async () => {
    const store = ctx.store();
    const times: string[] = [];
    for (let i = 0; i < 5; i++) {
      times.push(ctx.now());
      await store.recordAudit({
        id: `audit_${i}_${newId('request').slice(-8)}`,
        tenant_id: i % 2 === 0 ? 'tenant_even' : 'tenant_odd',
        key_prefix: 'bsk_live_abcdefgh',
        method: 'POST',
        route: '/v1/agents/:id',
        resource_id: `agent_${i}`,
        status: 200,
        request_id: `req_${i}`,
        created_at: times[i]!,
      });
    }
    const even = await store.listAudit({ limit: 2, tenant: 'tenant_even' });
    expect(even.data.map((a) => a.resource_id)).toEqual(['agent_4', 'agent_2']);
    const rest = await store.listAudit({ limit: 2, tenant: 'tenant_even', page: even.next! });
    expect(rest.data.map((a) => a.resource_id)).toEqual(['agent_0']);
    expect(rest.next).toBeNull();
    const ranged = await store.listAudit({ limit: 10, createdAt: { gte: times[1], lt: times[3] } });
    expect(ranged.data.map((a) => [a.resource_id, a.status, a.method])).toEqual([
      ['agent_2', 200, 'POST'],
      ['agent_1', 200, 'POST'],
    ]);
  });

  it("a tenant-scoped store never sees or touches another tenant's rows", async () => {
    const base = ctx.store();
    const A = new TenantStore(base, 'tenant_iso_a');
    const B = new TenantStore(base, 'tenant_iso_b');
    const now = ctx.now();
    // A record naming another tenant is stamped with the scoped store's own.
    const agent = { ...agentRecord(now), tenant_id: 'tenant_iso_b' };
    await A.createAgent(agent);
    const env = envRecord(now);
    await A.createEnvironment(env);
    const s = sessionRecord(now, env.id, agent);
    await A.createSession(s);
    await A.appendEvents(s.id, [{ id: newId('event'), type: 'x', processed_at: now, body: { type: 'x' } }]);
    const vault = { id: newId('vault'), display_name: 'v', metadata: {}, ...at(now) };
    await A.createVault(vault);
    const file = { id: newId('file'), filename: 'f', mime_type: 'text/plain', size_bytes: 1, sha256: 'ab'.repeat(32) };
    await A.createFile({ ...file, downloadable: true, created_at: now });
    await base.recordModelRequest({
      id: newId('modelRequest'),
      session_id: s.id,
      agent_id: agent.id,
      environment_id: env.id,
      tenant_id: 'tenant_iso_a',
      message_id: 'm1',
      model: 'claude-sonnet-4-5',
      status: 200,
      input_tokens: 7,
      output_tokens: 3,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      latency_ms: 1,
      created_at: now,
    });

    expect((await base.getAgent(agent.id))?.tenant_id).toBe('tenant_iso_a');
    expect((await A.getAgent(agent.id))?.id).toBe(agent.id);
    expect((await A.sessionUsage(s.id)).input_tokens).toBe(7);
    expect(await B.getAgent(agent.id)).toBeUndefined();
    expect(await B.getEnvironment(env.id)).toBeUndefined();
    expect(await B.getSession(s.id)).toBeUndefined();
    expect(await B.getVault(vault.id)).toBeUndefined();
    expect(await B.getFile(file.id)).toBeUndefined();
    expect((await B.sessionUsage(s.id)).input_tokens).toBe(0);
    expect((await B.sessionUsages([s.id])).get(s.id)?.requests).toBe(0);
    expect((await B.listEvents(s.id, { limit: 10, order: 'asc' })).data).toEqual([]);
    expect((await A.listEvents(s.id, { limit: 10, order: 'asc' })).data).toHaveLength(1);
    expect((await B.listAgentVersions(agent.id, { limit: 10 })).data).toEqual([]);
    for (const list of [
      B.listAgents({ limit: 100, includeArchived: true }),
      B.listEnvironments({ limit: 100, includeArchived: true }),
      B.listSessions({ limit: 100, order: 'desc', includeArchived: true }),
      B.listVaults({ limit: 100, includeArchived: true }),
      B.listFiles({ limit: 100 }),
    ]) {
      expect((await list).data).toEqual([]);
    }
    expect((await A.listSessions({ limit: 100, order: 'desc' })).data.map((x) => x.id)).toEqual([s.id]);
    // Writes by id do nothing to another tenant's rows.
    expect(await B.updateAgent(agent.id, undefined, (c) => ({ ...c, name: 'stolen' }), now)).toBeUndefined();
    expect(await B.archiveAgent(agent.id, now)).toBeUndefined();
    await B.putEnvironment({ ...env, name: 'stolen' });
    expect(await B.deleteEnvironment(env.id)).toBe(false);
    expect(await B.updateSession(s.id, { title: 'stolen' })).toBeUndefined();
    await expect(B.appendEvents(s.id, [])).rejects.toThrow(/does not exist/);
    expect(await B.deleteSession(s.id)).toBe(false);
    expect(await B.archiveVault(vault.id, now)).toBeUndefined();
    expect(await B.deleteVault(vault.id)).toBe(false);
    expect(await B.deleteFile(file.id)).toBe(false);
    expect(await B.activeCredentials(vault.id)).toEqual([]);
    expect((await base.getAgent(agent.id))?.name).toBe(agent.name);
    expect((await base.getAgent(agent.id))?.archived_at).toBeNull();
    expect((await base.getEnvironment(env.id))?.name).toBe(env.name);
    expect((await base.getSession(s.id))?.title).toBeNull();
    expect((await base.getVault(vault.id))?.archived_at).toBeNull();
    expect(await base.getFile(file.id)).toBeDefined();
    // Admin and system methods are refused outright.
    await expect(B.listAudit({ limit: 1 })).rejects.toThrow(/tenant-scoped/);
    await expect(B.enabledWebhooks()).rejects.toThrow(/tenant-scoped/);
    await expect(B.dueTriggers(now)).rejects.toThrow(/tenant-scoped/);
  });

  it('keeps a tenant budget, and updates name, metadata and budget', async () => {
    const store = ctx.store();
    const budget = { type: 'monthly' as const, max_list_cost: { amount: '5000', currency: 'USD' as const } };
    const t = { ...tenant('budgeted'), budget };
    await store.createTenant(t);
    expect(await store.getTenant(t.id)).toEqual(t);
    const later = ctx.now();
    const renamed = await store.updateTenant(t.id, { name: 'renamed', updated_at: later });
    expect(renamed).toEqual({ ...t, name: 'renamed', updated_at: later });
    const cleared = await store.updateTenant(t.id, { budget: null, metadata: {}, updated_at: later });
    expect([cleared?.budget, cleared?.metadata, cleared?.name]).toEqual([null, {}, 'renamed']);
    expect(await store.updateTenant('tenant_missing', { name: 'x', updated_at: later })).toBeUndefined();
  });

  it('scopes webhook endpoints, triggers and the usage ledger to their tenant', async () => {
    const base = ctx.store();
    const [ta, tb] = [tenant('hook_a'), tenant('hook_b')];
    await base.createTenant(ta);
    await base.createTenant(tb);
    const A = new TenantStore(base, ta.id);
    const B = new TenantStore(base, tb.id);
    const now = ctx.now();
    const agent = agentRecord(now);
    await A.createAgent(agent);
    const env = envRecord(now);
    await A.createEnvironment(env);
    const s = sessionRecord(now, env.id, agent);
    await A.createSession(s);
    const hook = endpointFixture(now);
    await A.createWebhook(hook);
    const trigger = triggerFixture(now, {
      kind: 'webhook',
      session_id: s.id,
      cron: null,
      timezone: null,
      secret: SEALED,
    });
    await A.createTrigger(trigger);
    // B may not hang a trigger on A's session.
    await expect(B.createTrigger({ ...trigger, id: newId('trigger') })).rejects.toThrow(/does not exist/);
    await base.recordSandboxUsage({
      id: newId('sandboxUsage'),
      session_id: s.id,
      agent_id: agent.id,
      environment_id: env.id,
      tenant_id: ta.id,
      driver: 'bwrap',
      started_at: now,
      ended_at: now,
      seconds: 2,
      active_seconds: 1,
      memory_gib_seconds: 0.5,
      vcpus: 1,
      vcpu_seconds: 2,
    });

    expect((await base.getWebhook(hook.id))?.tenant_id).toBe(ta.id);
    expect((await base.getTrigger(trigger.id))?.tenant_id).toBe(ta.id);
    expect((await A.getWebhook(hook.id))?.id).toBe(hook.id);
    expect(await B.getWebhook(hook.id)).toBeUndefined();
    expect(await B.getTrigger(trigger.id)).toBeUndefined();
    expect((await B.listWebhooks({ limit: 100 })).data).toEqual([]);
    expect((await B.listTriggers({ limit: 100 })).data).toEqual([]);
    expect((await A.listTriggers({ limit: 100 })).data.map((t) => t.id)).toEqual([trigger.id]);
    expect((await B.listTriggerRuns(trigger.id, { limit: 10 })).data).toEqual([]);
    expect((await B.listWebhookDeliveries(hook.id, { limit: 10 })).data).toEqual([]);
    await B.putWebhook({ ...hook, url: 'https://stolen.example.com/' });
    await B.putTrigger({ ...trigger, prompt: 'stolen' });
    expect(await B.deleteWebhook(hook.id)).toBe(false);
    expect(await B.deleteTrigger(trigger.id)).toBe(false);
    expect((await base.getWebhook(hook.id))?.url).toBe(hook.url);
    expect((await base.getTrigger(trigger.id))?.prompt).toBe(trigger.prompt);
    expect((await A.sandboxUsages([s.id])).get(s.id)?.seconds).toBe(2);
    expect((await B.sandboxUsages([s.id])).get(s.id)?.seconds).toBe(0);
    const groups = { groupBy: 'tenant' as const, limit: 100 };
    expect((await A.usageGroups(groups)).data.map((g) => g.key)).toEqual([ta.id]);
    expect((await B.usageGroups(groups)).data).toEqual([]);
    await expect(B.createTenant(tenant('x'))).rejects.toThrow(/tenant-scoped/);
  });
}

function at(now: string) {
  return { created_at: now, updated_at: now, archived_at: null };
}
