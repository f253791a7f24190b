import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import { vaultConformance } from './conformance-vaults.js';
import { fileConformance } from './conformance-files.js';
import { triggerConformance } from './conformance-triggers.js';
import { webhookConformance } from './conformance-webhooks.js';
import { ledgerConformance } from './conformance-ledger.js';
import { tenantConformance } from './conformance-tenants.js';
import type { Store } from './store.js';
import { agentRecord as agent, envRecord as env, sessionRecord as session } from './records.test-support.js';
import { VersionConflictError } from './types.js';

/** What a store backend under test provides: a fresh, migrated, empty store and a way to dispose of it. */
export interface StoreFactory {
  create(): Promise<{ store: Store; cleanup: () => Promise<void> }>;
}

/** Millisecond ISO timestamps that strictly increase, so ordering assertions do not depend on the clock. */
function clock(): () => string {
  let t = Date.parse('2026-01-01T00:00:00.000Z');
  return () => new Date((t += 1000)).toISOString();
}

function ev(type: string, now: string) {
  const id = newId('event');
  return { id, type, processed_at: now, body: { id, type, processed_at: now } };
}

/** The one suite every Store backend must pass. */
export function runStoreConformance(name: string, factory: StoreFactory, skip: string | false = false): void {
  describe.skipIf(skip !== false)(`store conformance: ${name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let now: () => string;
    beforeEach(async () => {
      ({ store, cleanup } = await factory.create());
      now = clock();
    });
    afterEach(async () => cleanup?.());
    vaultConformance({ store: () => store, now: () => now() });
    fileConformance({ store: () => store, now: () => now() });
    triggerConformance({ store: () => store, now: () => now() });
    webhookConformance({ store: () => store, now: () => now() });
    ledgerConformance({ store: () => store });
    tenantConformance({ store: () => store, now: () => now() });

    it('migrates idempotently and answers ping', async () => {
      await store.migrate();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('versions agents with an optimistic check', async () => {
      const a = agent(now());
      await store.createAgent(a);
      const v2 = await store.updateAgent(a.id, 1, (c) => ({ ...c, name: 'renamed' }), now());
      expect(v2?.version).toBe(2);
      expect((await store.getAgent(a.id))?.name).toBe('renamed');
      expect((await store.getAgent(a.id, 1))?.name).toBe('a');
      await expect(store.updateAgent(a.id, 1, (c) => c, now())).rejects.toBeInstanceOf(VersionConflictError);
      const same = await store.updateAgent(a.id, undefined, () => null, now());
      expect(same?.version).toBe(2);
      const versions = await store.listAgentVersions(a.id, { limit: 1 });
      expect(versions.data.map((v) => v.version)).toEqual([2]);
      const older = await store.listAgentVersions(a.id, { limit: 1, page: versions.next! });
      expect(older.data.map((v) => v.version)).toEqual([1]);
      expect(older.next).toBeNull();
      expect(await store.getAgent('agent_missing')).toBeUndefined();
    });

    it('lists agents newest first, pages to the end, and hides archived ones', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const a = agent(now(), `a${i}`);
        ids.push(a.id);
        await store.createAgent(a);
      }
      await store.archiveAgent(ids[0]!, now());
      const seen: string[] = [];
      let page: string | undefined;
      do {
        const p = await store.listAgents({ limit: 2, page });
        seen.push(...p.data.map((a) => a.id));
        page = p.next ?? undefined;
      } while (page);
      expect(seen).toEqual(ids.slice(1).reverse());
      const all = await store.listAgents({ limit: 10, includeArchived: true });
      expect(all.data).toHaveLength(5);
      expect(all.data.at(-1)?.archived_at).not.toBeNull();
    });

    it('stores environments faithfully and deletes them', async () => {
      const e = env(now());
      await store.createEnvironment(e);
      expect(await store.getEnvironment(e.id)).toEqual(e);
      await store.putEnvironment({ ...e, name: 'x', metadata: {} });
      expect((await store.getEnvironment(e.id))?.name).toBe('x');
      expect(await store.deleteEnvironment(e.id)).toBe(true);
      expect(await store.deleteEnvironment(e.id)).toBe(false);
    });

    it('lists sessions with filters and pages both ways', async () => {
      const a = agent(now());
      await store.createAgent(a);
      const e = env(now());
      await store.createEnvironment(e);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const s = session(now(), e.id, a);
        ids.push(s.id);
        await store.createSession(s);
      }
      await store.updateSession(ids[1]!, { status: 'running' });
      const running = await store.listSessions({ limit: 10, order: 'desc', statuses: ['running'] });
      expect(running.data.map((s) => s.id)).toEqual([ids[1]]);
      const p1 = await store.listSessions({ limit: 2, order: 'desc' });
      expect(p1.data.map((s) => s.id)).toEqual([ids[4], ids[3]]);
      expect(p1.prev).toBeNull();
      const p2 = await store.listSessions({ limit: 2, order: 'desc', page: p1.next! });
      expect(p2.data.map((s) => s.id)).toEqual([ids[2], ids[1]]);
      const back = await store.listSessions({ limit: 2, order: 'desc', page: p2.prev! });
      expect(back.data.map((s) => s.id)).toEqual([ids[4], ids[3]]);
      const asc = await store.listSessions({ limit: 10, order: 'asc', agentId: a.id, agentVersion: 1 });
      expect(asc.data.map((s) => s.id)).toEqual(ids);
      expect(await store.countLiveSessions(e.id)).toBe(5);
    });

    it('appends events in order, dedupes runner re-sends and filters lists', async () => {
      const a = agent(now());
      await store.createAgent(a);
      const e = env(now());
      await store.createEnvironment(e);
      const s = session(now(), e.id, a);
      await store.createSession(s);
      const first = await store.appendEvents(s.id, [ev('user.message', now())]);
      expect(first.map((x) => x.seq)).toEqual([1]);
      const fromRunner = await store.appendEvents(s.id, [ev('session.status_running', now())], 1);
      expect(fromRunner.map((x) => x.seq)).toEqual([2]);
      expect(await store.appendEvents(s.id, [ev('session.status_running', now())], 1)).toEqual([]);
      await store.appendEvents(s.id, [ev('agent.message', now()), ev('session.status_idle', now())], 2);
      expect((await store.getSession(s.id))?.runner_acked_seq).toBe(2);
      const all = await store.listEvents(s.id, { limit: 100, order: 'asc' });
      expect(all.data.map((x) => x.type)).toEqual([
        'user.message',
        'session.status_running',
        'agent.message',
        'session.status_idle',
      ]);
      const desc = await store.listEvents(s.id, {
        limit: 100,
        order: 'desc',
        types: ['agent.message', 'user.message'],
      });
      expect(desc.data.map((x) => x.type)).toEqual(['agent.message', 'user.message']);
      const since = await store.listEvents(s.id, {
        limit: 100,
        order: 'asc',
        processedAt: { gt: all.data[1]!.processed_at },
      });
      expect(since.data.map((x) => x.seq)).toEqual([3, 4]);
      const ids: string[] = [];
      let page: string | undefined;
      do {
        const p = await store.listEvents(s.id, { limit: 1, order: 'asc', page });
        ids.push(...p.data.map((x) => x.id));
        page = p.next ?? undefined;
      } while (page);
      expect(ids).toEqual(all.data.map((x) => x.id));
      await expect(store.appendEvents('sesn_missing', [ev('x', now())])).rejects.toThrow(/does not exist/);
    });

    it('keeps event seqs unique under concurrent appends', async () => {
      const a = agent(now());
      await store.createAgent(a);
      const e = env(now());
      await store.createEnvironment(e);
      const s = session(now(), e.id, a);
      await store.createSession(s);
      await Promise.all(Array.from({ length: 20 }, () => store.appendEvents(s.id, [ev('x', now()), ev('y', now())])));
      const all = await store.listEvents(s.id, { limit: 100, order: 'asc' });
      expect(all.data.map((x) => x.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    });

    it('records the model ledger once per message id and sums usage', async () => {
      const a = agent(now());
      await store.createAgent(a);
      const e = env(now());
      await store.createEnvironment(e);
      const s = session(now(), e.id, a);
      await store.createSession(s);
      const rec = (message_id: string, input: number) => ({
        id: newId('modelRequest'),
        session_id: s.id,
        agent_id: a.id,
        environment_id: e.id,
        tenant_id: 'default',
        message_id,
        model: 'm',
        status: 200,
        input_tokens: input,
        output_tokens: 30,
        cache_read_input_tokens: 1,
        cache_creation_input_tokens: 2,
        latency_ms: 5,
        created_at: now(),
      });
      expect(await store.recordModelRequest(rec('msg_1', 120))).toBe(true);
      expect(await store.recordModelRequest(rec('msg_1', 120))).toBe(false);
      expect(await store.recordModelRequest(rec('msg_2', 7))).toBe(true);
      expect(await store.recordModelRequest({ ...rec('msg_3', 5), model: 'n' })).toBe(true);
      const per = { output_tokens: 30, cache_read_input_tokens: 1, cache_creation_input_tokens: 2 };
      expect(await store.sessionUsage(s.id)).toEqual({
        input_tokens: 132,
        output_tokens: 90,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 6,
        requests: 3,
        by_model: [
          {
            model: 'm',
            input_tokens: 127,
            output_tokens: 60,
            cache_read_input_tokens: 2,
            cache_creation_input_tokens: 4,
            requests: 2,
          },
          { model: 'n', input_tokens: 5, ...per, requests: 1 },
        ],
      });
      const both = await store.sessionUsages([s.id, 'sesn_none']);
      expect(both.get(s.id)).toMatchObject({ input_tokens: 132, requests: 3 });
      expect(both.get('sesn_none')).toMatchObject({ input_tokens: 0, requests: 0 });
      expect(await store.deleteSession(s.id)).toBe(true);
      // The ledger records what was spent: it outlives the session.
      expect(await store.sessionUsage(s.id)).toMatchObject({ input_tokens: 132, requests: 3 });
      expect(await store.listEvents(s.id, { limit: 10, order: 'asc' })).toMatchObject({ data: [] });
    });

    it('keeps an egress audit per session: recorded, completed, paged in order, filtered, deleted with the session', async () => {
      const a = agent(now());
      await store.createAgent(a);
      const e = env(now());
      await store.createEnvironment(e);
      const s = session(now(), e.id, a);
      await store.createSession(s);
      const at = now();
      const rec = (i: number, decision: 'allowed' | 'denied') => ({
        id: `egr_${String(i).padStart(26, '0')}`,
        session_id: s.id,
        method: i % 2 ? 'CONNECT' : 'GET',
        host: `h${i}.example.com`,
        port: 443,
        decision,
        rule: decision === 'allowed' ? "allowed_hosts entry '*.example.com'" : 'default deny',
        reason: decision === 'denied' ? 'not allowed' : null,
        address: null,
        status: decision === 'denied' ? 403 : null,
        bytes_up: 0,
        bytes_down: 0,
        duration_ms: null,
        created_at: at,
      });
      for (let i = 1; i <= 5; i++) await store.recordEgress(rec(i, i === 3 ? 'denied' : 'allowed'));
      // Past 2^31: byte counters are bigint columns.
      await store.updateEgress(rec(1, 'allowed').id, {
        bytes_up: 5_000_000_000,
        bytes_down: 7,
        duration_ms: 12,
        status: 200,
        address: '192.0.2.1',
      });
      const first = await store.listEgress(s.id, { limit: 2 });
      expect(first.data.map((r) => r.host)).toEqual(['h1.example.com', 'h2.example.com']);
      expect(first.data[0]).toMatchObject({
        bytes_up: 5_000_000_000,
        bytes_down: 7,
        duration_ms: 12,
        status: 200,
        address: '192.0.2.1',
      });
      const rest = await store.listEgress(s.id, { limit: 10, page: first.next! });
      expect(rest.data.map((r) => r.host)).toEqual(['h3.example.com', 'h4.example.com', 'h5.example.com']);
      expect(rest.next).toBeNull();
      const denied = await store.listEgress(s.id, { limit: 10, decision: 'denied' });
      expect(denied.data).toEqual([rec(3, 'denied')]);
      expect(await store.deleteSession(s.id)).toBe(true);
      expect((await store.listEgress(s.id, { limit: 10 })).data).toEqual([]);
    });
  });
}
