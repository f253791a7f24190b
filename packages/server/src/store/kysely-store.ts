import { Migrator, type Insertable, type Kysely } from 'kysely';
import { StaticMigrationProvider, type SqlDialect } from './migrations.js';
import type { Database, SessionsTable } from './schema.js';
import type { Store } from './store.js';
import { KyselyVaults } from './kysely-vaults.js';
import { KyselyFiles } from './kysely-files.js';
import { KyselyWebhooks } from './kysely-webhooks.js';
import { KyselyLedger } from './kysely-ledger.js';
import { KyselyTriggers } from './kysely-triggers.js';
import { KyselyTenants } from './kysely-tenants.js';
import { decodeCursor, encodeCursor, isSeqCursor } from './cursor.js';
import { listEgress, recordEgress, updateEgress } from './egress-queries.js';
import { keysetPage, mapPage, rangeWhere } from './query.js';
import { agentBody, agentFromRows, envFromRow, envToRow, eventFromRow, sessionFromRow, sessionToRow } from './rows.js';
import {
  VersionConflictError,
  type AgentRecord,
  type EnvironmentRecord,
  type EventListOptions,
  type EventRecord,
  type ListOptions,
  type NewEvent,
  type Page,
  type SessionListOptions,
  type SessionRecord,
} from './types.js';

/** The Store over Kysely; the same code serves SQLite and PostgreSQL. */
export class KyselyStore implements Store {
  private readonly vaults: KyselyVaults;
  private readonly files: KyselyFiles;
  private readonly webhooks: KyselyWebhooks;
  private readonly ledger: KyselyLedger;
  private readonly triggers: KyselyTriggers;
  private readonly tenants: KyselyTenants;
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: SqlDialect,
  ) {
    this.vaults = new KyselyVaults(db);
    this.files = new KyselyFiles(db);
    this.webhooks = new KyselyWebhooks(db);
    this.ledger = new KyselyLedger(db);
    this.triggers = new KyselyTriggers(db);
    this.tenants = new KyselyTenants(db);
  }

  // ---- tenants, API keys, audit log (kysely-tenants.ts) ----------------------------------------------------------

  createTenant: Store['createTenant'] = (t) => this.tenants.createTenant(t);
  getTenant: Store['getTenant'] = (id) => this.tenants.getTenant(id);
  listTenants: Store['listTenants'] = (opts) => this.tenants.listTenants(opts);
  archiveTenant: Store['archiveTenant'] = (id, now) => this.tenants.archiveTenant(id, now);
  updateTenant: Store['updateTenant'] = (id, patch) => this.tenants.updateTenant(id, patch);
  createApiKey: Store['createApiKey'] = (k) => this.tenants.createApiKey(k);
  getApiKey: Store['getApiKey'] = (id) => this.tenants.getApiKey(id);
  findApiKeyByPrefix: Store['findApiKeyByPrefix'] = (p) => this.tenants.findApiKeyByPrefix(p);
  listApiKeys: Store['listApiKeys'] = (opts) => this.tenants.listApiKeys(opts);
  updateApiKey: Store['updateApiKey'] = (id, patch) => this.tenants.updateApiKey(id, patch);
  recordAudit: Store['recordAudit'] = (rec) => this.tenants.recordAudit(rec);
  listAudit: Store['listAudit'] = (opts) => this.tenants.listAudit(opts);

  async sessionTenants(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db.selectFrom('sessions').select(['id', 'tenant_id']).where('id', 'in', ids).execute();
    return new Map(rows.map((r) => [r.id, r.tenant_id]));
  }

  // ---- webhooks (kysely-webhooks.ts) -----------------------------------------------------------------------------

  createWebhook: Store['createWebhook'] = (w) => this.webhooks.createWebhook(w);
  getWebhook: Store['getWebhook'] = (id) => this.webhooks.getWebhook(id);
  listWebhooks: Store['listWebhooks'] = (opts) => this.webhooks.listWebhooks(opts);
  enabledWebhooks: Store['enabledWebhooks'] = () => this.webhooks.enabledWebhooks();
  putWebhook: Store['putWebhook'] = (w) => this.webhooks.putWebhook(w);
  deleteWebhook: Store['deleteWebhook'] = (id) => this.webhooks.deleteWebhook(id);
  enqueueWebhookDeliveries: Store['enqueueWebhookDeliveries'] = (d) => this.webhooks.enqueueWebhookDeliveries(d);
  claimWebhookDeliveries: Store['claimWebhookDeliveries'] = (now, until, n) =>
    this.webhooks.claimWebhookDeliveries(now, until, n);
  settleWebhookDelivery: Store['settleWebhookDelivery'] = (id, lease, outcome, now) =>
    this.webhooks.settleWebhookDelivery(id, lease, outcome, now);
  getWebhookDelivery: Store['getWebhookDelivery'] = (eid, id) => this.webhooks.getWebhookDelivery(eid, id);
  listWebhookDeliveries: Store['listWebhookDeliveries'] = (eid, opts) => this.webhooks.listWebhookDeliveries(eid, opts);
  redeliverWebhookDelivery: Store['redeliverWebhookDelivery'] = (eid, id, now) =>
    this.webhooks.redeliverWebhookDelivery(eid, id, now);
  pruneWebhookDeliveries: Store['pruneWebhookDeliveries'] = (before) => this.webhooks.pruneWebhookDeliveries(before);

  // ---- triggers (kysely-triggers.ts) -----------------------------------------------------------------------------

  createTrigger: Store['createTrigger'] = (t) => this.triggers.createTrigger(t);
  getTrigger: Store['getTrigger'] = (id) => this.triggers.getTrigger(id);
  listTriggers: Store['listTriggers'] = (opts) => this.triggers.listTriggers(opts);
  putTrigger: Store['putTrigger'] = (t) => this.triggers.putTrigger(t);
  deleteTrigger: Store['deleteTrigger'] = (id) => this.triggers.deleteTrigger(id);
  nextTriggerRunAt: Store['nextTriggerRunAt'] = () => this.triggers.nextTriggerRunAt();
  dueTriggers: Store['dueTriggers'] = (now) => this.triggers.dueTriggers(now);
  advanceTrigger: Store['advanceTrigger'] = (id, expected, patch) => this.triggers.advanceTrigger(id, expected, patch);
  recordTriggerRun: Store['recordTriggerRun'] = (run, keep) => this.triggers.recordTriggerRun(run, keep);
  finishTriggerRun: Store['finishTriggerRun'] = (id, patch) => this.triggers.finishTriggerRun(id, patch);
  listTriggerRuns: Store['listTriggerRuns'] = (id, opts) => this.triggers.listTriggerRuns(id, opts);

  // ---- files (kysely-files.ts) -----------------------------------------------------------------------------------

  createFile: Store['createFile'] = (f) => this.files.createFile(f);
  getFile: Store['getFile'] = (id) => this.files.getFile(id);
  listFiles: Store['listFiles'] = (opts) => this.files.listFiles(opts);
  deleteFile: Store['deleteFile'] = (id) => this.files.deleteFile(id);

  // ---- vaults (kysely-vaults.ts) ---------------------------------------------------------------------------------

  createVault: Store['createVault'] = (v) => this.vaults.createVault(v);
  getVault: Store['getVault'] = (id) => this.vaults.getVault(id);
  listVaults: Store['listVaults'] = (opts) => this.vaults.listVaults(opts);
  putVault: Store['putVault'] = (v) => this.vaults.putVault(v);
  archiveVault: Store['archiveVault'] = (id, now) => this.vaults.archiveVault(id, now);
  deleteVault: Store['deleteVault'] = (id) => this.vaults.deleteVault(id);
  createCredential: Store['createCredential'] = (c) => this.vaults.createCredential(c);
  getCredential: Store['getCredential'] = (vid, id) => this.vaults.getCredential(vid, id);
  listCredentials: Store['listCredentials'] = (vid, opts) => this.vaults.listCredentials(vid, opts);
  activeCredentials: Store['activeCredentials'] = (vid) => this.vaults.activeCredentials(vid);
  putCredential: Store['putCredential'] = (c) => this.vaults.putCredential(c);
  archiveCredential: Store['archiveCredential'] = (vid, id, now) => this.vaults.archiveCredential(vid, id, now);
  deleteCredential: Store['deleteCredential'] = (vid, id) => this.vaults.deleteCredential(vid, id);

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: new StaticMigrationProvider(this.dialect) });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('agents').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // ---- agents ----------------------------------------------------------------------------------------------------

  async createAgent(a: AgentRecord): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('agents')
        .values({
          id: a.id,
          tenant_id: a.tenant_id,
          version: a.version,
          created_at: a.created_at,
          updated_at: a.updated_at,
          archived_at: null,
        })
        .execute();
      await tx
        .insertInto('agent_versions')
        .values({ agent_id: a.id, version: a.version, body: agentBody(a), created_at: a.updated_at })
        .execute();
    });
  }

  async getAgent(id: string, version?: number): Promise<AgentRecord | undefined> {
    const a = await this.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
    if (!a) return undefined;
    const v = await this.db
      .selectFrom('agent_versions')
      .selectAll()
      .where('agent_id', '=', id)
      .where('version', '=', version ?? a.version)
      .executeTakeFirst();
    return v ? agentFromRows(a, v) : undefined;
  }

  async listAgents(opts: ListOptions): Promise<Page<AgentRecord>> {
    let q = this.db
      .selectFrom('agents')
      .innerJoin('agent_versions', (j) =>
        j.onRef('agent_versions.agent_id', '=', 'agents.id').onRef('agent_versions.version', '=', 'agents.version'),
      )
      .selectAll('agents')
      .select(['agent_versions.body', 'agent_versions.created_at as version_created_at']);
    if (!opts.includeArchived) q = q.where('agents.archived_at', 'is', null);
    if (opts.tenant !== undefined) q = q.where('agents.tenant_id', '=', opts.tenant);
    q = rangeWhere(q, 'agents.created_at', opts.createdAt);
    const page = await keysetPage(q, 'agents', 'desc', opts);
    return mapPage(page, (r) =>
      agentFromRows(r, { agent_id: r.id, version: r.version, body: r.body, created_at: r.version_created_at }),
    );
  }

  async listAgentVersions(id: string, opts: ListOptions): Promise<Page<AgentRecord>> {
    const a = await this.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
    if (!a) return { data: [], next: null, prev: null };
    let q = this.db.selectFrom('agent_versions').selectAll().where('agent_id', '=', id).orderBy('version', 'desc');
    if (opts.page) q = q.where('version', '<', decodeCursor(opts.page, isSeqCursor).s);
    const rows = await q.limit(opts.limit + 1).execute();
    const more = rows.length > opts.limit;
    const data = rows.slice(0, opts.limit).map((v) => agentFromRows(a, v));
    const last = data[data.length - 1];
    return { data, next: more && last ? encodeCursor({ s: last.version }) : null, prev: null };
  }

  async updateAgent(
    id: string,
    expectedVersion: number | undefined,
    next: (current: AgentRecord) => ReturnType<Parameters<Store['updateAgent']>[2]>,
    now: string,
  ): Promise<AgentRecord | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const a = await tx.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
      if (!a) return undefined;
      if (expectedVersion !== undefined && expectedVersion !== Number(a.version)) {
        throw new VersionConflictError(Number(a.version));
      }
      const cur = await tx
        .selectFrom('agent_versions')
        .selectAll()
        .where('agent_id', '=', id)
        .where('version', '=', a.version)
        .executeTakeFirstOrThrow();
      const current = agentFromRows(a, cur);
      const body = next(current);
      if (body === null) return current;
      const version = Number(a.version) + 1;
      // Guard against a concurrent writer: the version only moves if it is still the one we read.
      const res = await tx
        .updateTable('agents')
        .set({ version, updated_at: now })
        .where('id', '=', id)
        .where('version', '=', a.version)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw new VersionConflictError(version);
      await tx
        .insertInto('agent_versions')
        .values({ agent_id: id, version, body: agentBody(body), created_at: now })
        .execute();
      return { ...body, id, version, created_at: a.created_at, updated_at: now, archived_at: a.archived_at };
    });
  }

  async archiveAgent(id: string, now: string): Promise<AgentRecord | undefined> {
    await this.db
      .updateTable('agents')
      .set({ archived_at: now, updated_at: now })
      .where('id', '=', id)
      .where('archived_at', 'is', null)
      .execute();
    return this.getAgent(id);
  }

  // ---- environments ----------------------------------------------------------------------------------------------

  async createEnvironment(env: EnvironmentRecord): Promise<void> {
    await this.db.insertInto('environments').values(envToRow(env)).execute();
  }

  async getEnvironment(id: string): Promise<EnvironmentRecord | undefined> {
    const r = await this.db.selectFrom('environments').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? envFromRow(r) : undefined;
  }

  async listEnvironments(opts: ListOptions): Promise<Page<EnvironmentRecord>> {
    let q = this.db.selectFrom('environments').selectAll();
    if (!opts.includeArchived) q = q.where('archived_at', 'is', null);
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    q = rangeWhere(q, 'created_at', opts.createdAt);
    return mapPage(await keysetPage(q, 'environments', 'desc', opts), envFromRow);
  }

  async putEnvironment(env: EnvironmentRecord): Promise<void> {
    const { tenant_id: _owner, ...row } = envToRow(env);
    await this.db.updateTable('environments').set(row).where('id', '=', env.id).execute();
  }

  async deleteEnvironment(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('environments').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async countLiveSessions(environmentId: string): Promise<number> {
    const r = await this.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('environment_id', '=', environmentId)
      .where('archived_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  // ---- sessions --------------------------------------------------------------------------------------------------

  async createSession(s: SessionRecord): Promise<void> {
    const row = sessionToRow(s) as Insertable<SessionsTable>;
    await this.db
      .insertInto('sessions')
      .values({ ...row, event_seq: 0, runner_acked_seq: 0 })
      .execute();
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const r = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? sessionFromRow(r) : undefined;
  }

  async findSessionByGatewayToken(tokenHash: string): Promise<SessionRecord | undefined> {
    const r = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('gateway_token_hash', '=', tokenHash)
      .executeTakeFirst();
    return r ? sessionFromRow(r) : undefined;
  }

  async listSessions(opts: SessionListOptions): Promise<Page<SessionRecord>> {
    let q = this.db.selectFrom('sessions').selectAll();
    if (!opts.includeArchived) q = q.where('archived_at', 'is', null);
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    if (opts.statuses?.length) q = q.where('status', 'in', opts.statuses);
    if (opts.agentId) q = q.where('agent_id', '=', opts.agentId);
    if (opts.agentVersion !== undefined) q = q.where('agent_version', '=', opts.agentVersion);
    q = rangeWhere(q, 'created_at', opts.createdAt);
    return mapPage(await keysetPage(q, 'sessions', opts.order, opts), sessionFromRow);
  }

  async updateSession(id: string, patch: Parameters<Store['updateSession']>[1]): Promise<SessionRecord | undefined> {
    const { tenant_id: _owner, ...rest } = patch as typeof patch & { tenant_id?: string };
    const row = sessionToRow({ ...rest, updated_at: rest.updated_at ?? new Date().toISOString() });
    await this.db.updateTable('sessions').set(row).where('id', '=', id).execute();
    return this.getSession(id);
  }

  async deleteSession(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('events').where('session_id', '=', id).execute();
      // The usage ledger (model_requests, sandbox_usage) stays: it records what was spent, not what exists.
      await tx.deleteFrom('egress_audit').where('session_id', '=', id).execute();
      const r = await tx.deleteFrom('sessions').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  // ---- events ----------------------------------------------------------------------------------------------------

  async appendEvents(sessionId: string, events: NewEvent[], runnerSeq?: number): Promise<EventRecord[]> {
    return this.db.transaction().execute(async (tx) => {
      // Claiming the seq range with one UPDATE … RETURNING serialises concurrent appenders on both dialects.
      let q = tx
        .updateTable('sessions')
        .set((eb) => ({ event_seq: eb('event_seq', '+', events.length) }))
        .where('id', '=', sessionId);
      if (runnerSeq !== undefined) q = q.set({ runner_acked_seq: runnerSeq }).where('runner_acked_seq', '<', runnerSeq);
      const claimed = await q.returning('event_seq').executeTakeFirst();
      if (!claimed) {
        if (
          runnerSeq !== undefined &&
          (await tx.selectFrom('sessions').select('id').where('id', '=', sessionId).executeTakeFirst())
        ) {
          return []; // a re-sent runner frame that is already persisted
        }
        throw new Error(`session ${sessionId} does not exist`);
      }
      const first = Number(claimed.event_seq) - events.length + 1;
      const rows = events.map((e, i) => ({
        id: e.id,
        session_id: sessionId,
        seq: first + i,
        type: e.type,
        processed_at: e.processed_at,
        body: JSON.stringify(e.body),
      }));
      if (rows.length) await tx.insertInto('events').values(rows).execute();
      return rows.map(eventFromRow);
    });
  }

  async listEvents(sessionId: string, opts: EventListOptions): Promise<Page<EventRecord>> {
    let q = this.db.selectFrom('events').selectAll().where('session_id', '=', sessionId);
    if (opts.types?.length) q = q.where('type', 'in', opts.types);
    q = rangeWhere(q, 'processed_at', opts.processedAt);
    if (opts.page) {
      const { s } = decodeCursor(opts.page, isSeqCursor);
      q = q.where('seq', opts.order === 'asc' ? '>' : '<', s);
    }
    const rows = await q
      .orderBy('seq', opts.order)
      .limit(opts.limit + 1)
      .execute();
    const more = rows.length > opts.limit;
    const data = rows.slice(0, opts.limit).map(eventFromRow);
    const last = data[data.length - 1];
    return { data, next: more && last ? encodeCursor({ s: last.seq }) : null, prev: null };
  }

  // ---- egress audit (queries in egress-queries.ts) -------------------------------------------------------------------

  recordEgress(rec: Parameters<Store['recordEgress']>[0]): Promise<void> {
    return recordEgress(this.db, rec);
  }

  updateEgress(id: string, patch: Parameters<Store['updateEgress']>[1]): Promise<void> {
    return updateEgress(this.db, id, patch);
  }

  listEgress(sessionId: string, opts: Parameters<Store['listEgress']>[1]): ReturnType<Store['listEgress']> {
    return listEgress(this.db, sessionId, opts);
  }

  // ---- usage ledger (kysely-ledger.ts) ---------------------------------------------------------------------------

  recordModelRequest: Store['recordModelRequest'] = (rec) => this.ledger.recordModelRequest(rec);
  recordSandboxUsage: Store['recordSandboxUsage'] = (rec) => this.ledger.recordSandboxUsage(rec);
  sessionUsage: Store['sessionUsage'] = async (id) => (await this.ledger.sessionUsages([id])).get(id)!;
  sessionUsages: Store['sessionUsages'] = (ids) => this.ledger.sessionUsages(ids);
  sandboxUsages: Store['sandboxUsages'] = (ids) => this.ledger.sandboxUsages(ids);
  usageGroups: Store['usageGroups'] = (q) => this.ledger.usageGroups(q);
}
