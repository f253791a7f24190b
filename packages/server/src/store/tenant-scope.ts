import type { Store } from './store.js';
import type { Page, UsageTotals } from './types.js';
import { zeroSandbox } from './kysely-ledger.js';

/**
 * The store as one tenant sees it: the only store API routes use (through `storeOf(req)`, api/tenancy.ts).
 * - Reads of another tenant's row answer `undefined` (so the API says 404, never 403: ids do not leak); lists carry
 *   the tenant filter into SQL.
 * - Writes by id first check the owner; creates stamp the tenant (a caller cannot pick another one).
 * - Children inherit their parent's tenant: credentials their vault's, events / usage / egress records their session's.
 * - Admin and system methods (tenants, keys, audit, gateway and egress recording, migrations) throw: a route that
 *   needs them uses the unscoped store deliberately.
 * Ownership never changes after creation (puts and updates cannot move a row), so check-then-act is race-free.
 */
export class TenantStore implements Store {
  constructor(
    private readonly base: Store,
    readonly tenant: string,
  ) {}

  get dialect(): Store['dialect'] {
    return this.base.dialect;
  }
  ping = (): Promise<void> => this.base.ping();
  migrate = (): Promise<void> => refuse('migrate');
  close = (): Promise<void> => refuse('close');

  private mine<T extends { tenant_id?: string }>(r: T | undefined): T | undefined {
    return r !== undefined && r.tenant_id === this.tenant ? r : undefined;
  }
  private stamp<T extends { tenant_id?: string }>(r: T): T {
    return { ...r, tenant_id: this.tenant };
  }
  private async ownsAgent(id: string) {
    return (await this.getAgent(id)) !== undefined;
  }
  private async ownsEnv(id: string) {
    return (await this.getEnvironment(id)) !== undefined;
  }
  private async ownsSession(id: string) {
    return (await this.getSession(id)) !== undefined;
  }
  private async ownsVault(id: string) {
    return (await this.getVault(id)) !== undefined;
  }
  private async ownsWebhook(id: string) {
    return (await this.getWebhook(id)) !== undefined;
  }
  private async ownsTrigger(id: string) {
    return (await this.getTrigger(id)) !== undefined;
  }
  private async ownSessions(ids: string[]): Promise<string[]> {
    const owners = await this.base.sessionTenants(ids);
    return ids.filter((id) => owners.get(id) === this.tenant);
  }

  // ---- agents
  createAgent: Store['createAgent'] = (a) => this.base.createAgent(this.stamp(a));
  getAgent: Store['getAgent'] = async (id, v) => this.mine(await this.base.getAgent(id, v));
  listAgents: Store['listAgents'] = (opts) => this.base.listAgents({ ...opts, tenant: this.tenant });
  listAgentVersions: Store['listAgentVersions'] = async (id, opts) =>
    (await this.ownsAgent(id)) ? this.base.listAgentVersions(id, opts) : empty();
  updateAgent: Store['updateAgent'] = async (id, expected, next, now) =>
    (await this.ownsAgent(id)) ? this.base.updateAgent(id, expected, next, now) : undefined;
  archiveAgent: Store['archiveAgent'] = async (id, now) =>
    (await this.ownsAgent(id)) ? this.base.archiveAgent(id, now) : undefined;

  // ---- environments
  createEnvironment: Store['createEnvironment'] = (e) => this.base.createEnvironment(this.stamp(e));
  getEnvironment: Store['getEnvironment'] = async (id) => this.mine(await this.base.getEnvironment(id));
  listEnvironments: Store['listEnvironments'] = (opts) => this.base.listEnvironments({ ...opts, tenant: this.tenant });
  putEnvironment: Store['putEnvironment'] = async (e) => {
    if (await this.ownsEnv(e.id)) await this.base.putEnvironment(e);
  };
  deleteEnvironment: Store['deleteEnvironment'] = async (id) =>
    (await this.ownsEnv(id)) ? this.base.deleteEnvironment(id) : false;
  countLiveSessions: Store['countLiveSessions'] = async (id) =>
    (await this.ownsEnv(id)) ? this.base.countLiveSessions(id) : 0;

  // ---- sessions, events, usage, egress
  createSession: Store['createSession'] = (s) => this.base.createSession(this.stamp(s));
  getSession: Store['getSession'] = async (id) => this.mine(await this.base.getSession(id));
  findSessionByGatewayToken: Store['findSessionByGatewayToken'] = async (hash) =>
    this.mine(await this.base.findSessionByGatewayToken(hash));
  listSessions: Store['listSessions'] = (opts) => this.base.listSessions({ ...opts, tenant: this.tenant });
  updateSession: Store['updateSession'] = async (id, patch) =>
    (await this.ownsSession(id)) ? this.base.updateSession(id, patch) : undefined;
  deleteSession: Store['deleteSession'] = async (id) =>
    (await this.ownsSession(id)) ? this.base.deleteSession(id) : false;
  appendEvents: Store['appendEvents'] = async (id, events, runnerSeq) => {
    if (!(await this.ownsSession(id))) throw new Error(`session ${id} does not exist`);
    return this.base.appendEvents(id, events, runnerSeq);
  };
  listEvents: Store['listEvents'] = async (id, opts) =>
    (await this.ownsSession(id)) ? this.base.listEvents(id, opts) : empty();
  recordModelRequest: Store['recordModelRequest'] = () => refuse('recordModelRequest');
  sessionUsage: Store['sessionUsage'] = async (id) => (await this.sessionUsages([id])).get(id)!;
  sessionUsages: Store['sessionUsages'] = async (ids) => {
    // Another tenant's session reads as one without usage, exactly like an id that does not exist.
    const own = await this.ownSessions(ids);
    const real = await this.base.sessionUsages(own);
    return new Map(ids.map((id) => [id, real.get(id) ?? zeroUsage()]));
  };
  recordSandboxUsage: Store['recordSandboxUsage'] = () => refuse('recordSandboxUsage');
  sandboxUsages: Store['sandboxUsages'] = async (ids) => {
    const own = await this.ownSessions(ids);
    const real = await this.base.sandboxUsages(own);
    return new Map(ids.map((id) => [id, real.get(id) ?? zeroSandbox()]));
  };
  usageGroups: Store['usageGroups'] = (q) => this.base.usageGroups({ ...q, tenant: this.tenant });
  recordEgress: Store['recordEgress'] = () => refuse('recordEgress');
  updateEgress: Store['updateEgress'] = () => refuse('updateEgress');
  listEgress: Store['listEgress'] = async (id, opts) =>
    (await this.ownsSession(id)) ? this.base.listEgress(id, opts) : empty();
  sessionTenants: Store['sessionTenants'] = async (ids) => {
    const all = await this.base.sessionTenants(ids);
    return new Map([...all].filter(([, t]) => t === this.tenant));
  };

  // ---- vaults and credentials (a credential belongs to its vault's tenant)
  createVault: Store['createVault'] = (v) => this.base.createVault(this.stamp(v));
  getVault: Store['getVault'] = async (id) => this.mine(await this.base.getVault(id));
  listVaults: Store['listVaults'] = (opts) => this.base.listVaults({ ...opts, tenant: this.tenant });
  putVault: Store['putVault'] = async (v) => {
    if (await this.ownsVault(v.id)) await this.base.putVault(v);
  };
  archiveVault: Store['archiveVault'] = async (id, now) =>
    (await this.ownsVault(id)) ? this.base.archiveVault(id, now) : undefined;
  deleteVault: Store['deleteVault'] = async (id) => ((await this.ownsVault(id)) ? this.base.deleteVault(id) : false);
  createCredential: Store['createCredential'] = async (c) => {
    if (!(await this.ownsVault(c.vault_id))) throw new Error(`vault ${c.vault_id} does not exist`);
    return this.base.createCredential(c);
  };
  getCredential: Store['getCredential'] = async (vid, id) =>
    (await this.ownsVault(vid)) ? this.base.getCredential(vid, id) : undefined;
  listCredentials: Store['listCredentials'] = async (vid, opts) =>
    (await this.ownsVault(vid)) ? this.base.listCredentials(vid, opts) : empty();
  activeCredentials: Store['activeCredentials'] = async (vid) =>
    (await this.ownsVault(vid)) ? this.base.activeCredentials(vid) : [];
  putCredential: Store['putCredential'] = async (c) => {
    if (await this.ownsVault(c.vault_id)) await this.base.putCredential(c);
  };
  archiveCredential: Store['archiveCredential'] = async (vid, id, now) =>
    (await this.ownsVault(vid)) ? this.base.archiveCredential(vid, id, now) : undefined;
  deleteCredential: Store['deleteCredential'] = async (vid, id) =>
    (await this.ownsVault(vid)) ? this.base.deleteCredential(vid, id) : false;

  // ---- files
  createFile: Store['createFile'] = (f) => this.base.createFile(this.stamp(f));
  getFile: Store['getFile'] = async (id) => this.mine(await this.base.getFile(id));
  listFiles: Store['listFiles'] = (opts) => this.base.listFiles({ ...opts, tenant: this.tenant });
  deleteFile: Store['deleteFile'] = async (id) =>
    (await this.getFile(id)) !== undefined ? this.base.deleteFile(id) : false;

  // ---- webhook endpoints and their delivery logs (the queue itself is the delivery worker's: system only)
  createWebhook: Store['createWebhook'] = (w) => this.base.createWebhook(this.stamp(w));
  getWebhook: Store['getWebhook'] = async (id) => this.mine(await this.base.getWebhook(id));
  listWebhooks: Store['listWebhooks'] = (opts) => this.base.listWebhooks({ ...opts, tenant: this.tenant });
  putWebhook: Store['putWebhook'] = async (w) => {
    if (await this.ownsWebhook(w.id)) await this.base.putWebhook(w);
  };
  deleteWebhook: Store['deleteWebhook'] = async (id) =>
    (await this.ownsWebhook(id)) ? this.base.deleteWebhook(id) : false;
  getWebhookDelivery: Store['getWebhookDelivery'] = async (eid, id) =>
    (await this.ownsWebhook(eid)) ? this.base.getWebhookDelivery(eid, id) : undefined;
  listWebhookDeliveries: Store['listWebhookDeliveries'] = async (eid, opts) =>
    (await this.ownsWebhook(eid)) ? this.base.listWebhookDeliveries(eid, opts) : empty();
  redeliverWebhookDelivery: Store['redeliverWebhookDelivery'] = async (eid, id, now) =>
    (await this.ownsWebhook(eid)) ? this.base.redeliverWebhookDelivery(eid, id, now) : undefined;
  enabledWebhooks: Store['enabledWebhooks'] = () => refuse('enabledWebhooks');
  enqueueWebhookDeliveries: Store['enqueueWebhookDeliveries'] = () => refuse('enqueueWebhookDeliveries');
  claimWebhookDeliveries: Store['claimWebhookDeliveries'] = () => refuse('claimWebhookDeliveries');
  settleWebhookDelivery: Store['settleWebhookDelivery'] = () => refuse('settleWebhookDelivery');
  pruneWebhookDeliveries: Store['pruneWebhookDeliveries'] = () => refuse('pruneWebhookDeliveries');

  // ---- triggers (a trigger belongs to its session's tenant; firing them is the scheduler's: system only)
  createTrigger: Store['createTrigger'] = async (t) => {
    if (!(await this.ownsSession(t.session_id))) throw new Error(`session ${t.session_id} does not exist`);
    return this.base.createTrigger(this.stamp(t));
  };
  getTrigger: Store['getTrigger'] = async (id) => this.mine(await this.base.getTrigger(id));
  listTriggers: Store['listTriggers'] = (opts) => this.base.listTriggers({ ...opts, tenant: this.tenant });
  putTrigger: Store['putTrigger'] = async (t) => {
    if (await this.ownsTrigger(t.id)) await this.base.putTrigger(t);
  };
  deleteTrigger: Store['deleteTrigger'] = async (id) =>
    (await this.ownsTrigger(id)) ? this.base.deleteTrigger(id) : false;
  listTriggerRuns: Store['listTriggerRuns'] = async (id, opts) =>
    (await this.ownsTrigger(id)) ? this.base.listTriggerRuns(id, opts) : empty();
  nextTriggerRunAt: Store['nextTriggerRunAt'] = () => refuse('nextTriggerRunAt');
  dueTriggers: Store['dueTriggers'] = () => refuse('dueTriggers');
  advanceTrigger: Store['advanceTrigger'] = () => refuse('advanceTrigger');
  recordTriggerRun: Store['recordTriggerRun'] = () => refuse('recordTriggerRun');
  finishTriggerRun: Store['finishTriggerRun'] = () => refuse('finishTriggerRun');

  // ---- admin only
  createTenant: Store['createTenant'] = () => refuse('createTenant');
  getTenant: Store['getTenant'] = () => refuse('getTenant');
  listTenants: Store['listTenants'] = () => refuse('listTenants');
  archiveTenant: Store['archiveTenant'] = () => refuse('archiveTenant');
  updateTenant: Store['updateTenant'] = () => refuse('updateTenant');
  createApiKey: Store['createApiKey'] = () => refuse('createApiKey');
  getApiKey: Store['getApiKey'] = () => refuse('getApiKey');
  findApiKeyByPrefix: Store['findApiKeyByPrefix'] = () => refuse('findApiKeyByPrefix');
  listApiKeys: Store['listApiKeys'] = () => refuse('listApiKeys');
  updateApiKey: Store['updateApiKey'] = () => refuse('updateApiKey');
  recordAudit: Store['recordAudit'] = () => refuse('recordAudit');
  listAudit: Store['listAudit'] = () => refuse('listAudit');
}

function zeroUsage(): UsageTotals {
  const z = { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
  return { ...z, requests: 0, by_model: [] };
}

function empty<T>(): Page<T> {
  return { data: [], next: null, prev: null };
}

/** A tenant-scoped store asked for an admin or system method: a bug in the caller, never a tenant's doing. */
function refuse(method: string): Promise<never> {
  return Promise.reject(new Error(`${method} is not available on a tenant-scoped store; use the unscoped store`));
}
