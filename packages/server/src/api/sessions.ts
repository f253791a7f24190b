import type { FastifyRequest } from 'fastify';
import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import { assertRunnable } from '../sessions/run-config.js';
import type { SessionService } from '../sessions/service.js';
import type { AgentRecord, JsonObject, SandboxTotals, SessionRecord, Store, UsageTotals } from '../store/store.js';
import { assertBudgetable, budgetCents } from '../budget/budget.js';
import { monetaryAmount, type PriceTable } from '../budget/prices.js';
import { costOf, sandboxWire } from '../ledger/costs.js';
import { modelObject } from './agents-schema.js';
import { checkId, patchMetadata, rangeFrom } from './common.js';
import type { RouteModule } from './context.js';
import { callerOf, loadSession, storeOf } from './tenancy.js';
import { SessionCreateSchema, SessionListQuerySchema, SessionUpdateSchema } from './sessions-schema.js';
import { checkToolRefs, resolveSkills, resolveTools, McpServersSchema, ToolsSchema } from './tools.js';
import { parseInput } from './validate.js';
import { ResourcesSchema, resolveResources, resourceDefaults } from '../resources.js';
import { capabilitiesOf } from './drivers.js';
import { LifecycleSchema, lifecycleDefaults, resolveLifecycle } from '../lifecycle.js';
import { parseGitResources } from '../session-resources/git-create.js';
import { checkMountPaths, prepareResources } from '../session-resources/index.js';

/** A session's ledger sums: tokens from the gateway, sandbox time from the sandbox meter. */
export interface SessionLedger {
  tokens: UsageTotals;
  sandbox: SandboxTotals;
}

/**
 * The wire form of a session (§2 Session), with usage from the ledger: `usage` in the Managed Agents shape
 * (`list_cost` is the token cost, what budgets count) and `berth.usage` with sandbox time and the costs.
 */
export function serializeSession(
  s: SessionRecord,
  ledger: SessionLedger,
  service: SessionService,
  prices: PriceTable,
): object {
  const u = ledger.tokens;
  const active = service.activeSeconds(s);
  const duration = (Date.now() - Date.parse(s.created_at)) / 1000;
  return {
    id: s.id,
    type: 'session',
    status: s.status,
    agent: s.agent,
    environment_id: s.environment_id,
    title: s.title,
    metadata: s.metadata,
    resources: s.resources,
    vault_ids: s.vault_ids,
    budget: s.budget,
    outcome_evaluations: [],
    stats: { active_seconds: round(active), duration_seconds: round(duration) },
    usage: {
      input_tokens: u.input_tokens,
      output_tokens: u.output_tokens,
      cache_read_input_tokens: u.cache_read_input_tokens,
      cache_creation: { ephemeral_5m_input_tokens: u.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 },
      active_seconds: round(active),
      list_cost: monetaryAmount(prices.tokenCostCents(u.by_model)),
    },
    berth: {
      ...s.berth,
      state: observedState(s),
      sandbox: { id: s.sandbox_id, state: s.sandbox_state },
      usage: {
        model_requests: u.requests,
        sandbox: sandboxWire(ledger.sandbox),
        cost_usd: costOf(u.by_model, ledger.sandbox, prices),
      },
    },
    created_at: s.created_at,
    updated_at: s.updated_at,
    archived_at: s.archived_at,
  };
}

/**
 * `berth.state`, what is (next to `berth.lifecycle`, what was asked): `starting` until the agent process is ready,
 * `running` during a turn, `ready` while idle, `hibernating` / `hibernated` / `resuming` around a hibernation (its
 * files in the blob store, no sandbox), `stopped` once the session has ended.
 */
function observedState(s: SessionRecord): string {
  if (s.sandbox_state === 'stopped' || s.status === 'terminated' || s.archived_at) return 'stopped';
  if (s.sandbox_state === 'hibernating' || s.sandbox_state === 'hibernated') return s.sandbox_state;
  if (s.status === 'running') return 'running';
  if (s.sandbox_state === 'starting' || s.sandbox_state === 'resuming') return s.sandbox_state;
  return 'ready';
}

/** The reference's rules for a budget in `sessions.update`; each refusal names its reason. */
async function checkBudgetUpdate(
  s: SessionRecord,
  budget: JsonObject,
  store: Store,
  prices: PriceTable,
): Promise<void> {
  const refuse = (reason: string, why: string) => {
    throw new ApiError('invalid_request', `${reason}: ${why}`, { reason });
  };
  if (s.status === 'terminated') refuse('session_terminated', `session '${s.id}' has terminated.`);
  if (s.budget === null) {
    refuse(
      'budget_create_only',
      'a budget can only be given at session create (and a removed one cannot be re-added). Create a new session with a budget.',
    );
  }
  assertBudgetable(s.agent, prices);
  const cap = budgetCents(budget)!;
  const spent = prices.tokenCostCents((await store.sessionUsage(s.id)).by_model);
  if (cap <= spent) {
    refuse(
      'budget_not_raised',
      `max_list_cost ${cap} is at or below what the session has spent (${Math.ceil(spent)} cents). Set a higher amount.`,
    );
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The agent snapshot a session runs: the pinned (or latest) version with any overrides applied. */
function snapshot(a: AgentRecord, ref: z.infer<typeof SessionCreateSchema>['agent']): JsonObject {
  const base: JsonObject = {
    id: a.id,
    type: 'agent',
    version: a.version,
    name: a.name,
    description: a.description,
    system: a.system,
    model: a.model,
    tools: a.tools,
    mcp_servers: a.mcp_servers,
    skills: a.skills,
    multiagent: a.multiagent,
    execution_identity: a.execution_identity,
  };
  if (typeof ref === 'string' || ref.type === 'agent') return base;
  const tools = ref.tools ?? ToolsSchema.parse(a.tools);
  const servers = ref.mcp_servers ?? McpServersSchema.parse(a.mcp_servers);
  if (ref.tools || ref.mcp_servers) checkToolRefs(tools, servers);
  return {
    ...base,
    ...(ref.model !== undefined ? { model: modelObject(ref.model) as JsonObject } : {}),
    ...(ref.system !== undefined ? { system: ref.system } : {}),
    ...(ref.tools !== undefined ? { tools: resolveTools(ref.tools) } : {}),
    ...(ref.mcp_servers !== undefined ? { mcp_servers: ref.mcp_servers } : {}),
    ...(ref.skills !== undefined ? { skills: resolveSkills(ref.skills) } : {}),
  };
}

const IdParams = z.object({ id: z.string() });

/** One session's wire form, with its ledger (the lifecycle routes answer with it too). */
export async function wireSession(
  s: SessionRecord,
  store: Store,
  ctx: { sessions: SessionService; prices: PriceTable },
): Promise<object> {
  const [tokens, sandbox] = await Promise.all([store.sessionUsages([s.id]), store.sandboxUsages([s.id])]);
  return serializeSession(s, { tokens: tokens.get(s.id)!, sandbox: sandbox.get(s.id)! }, ctx.sessions, ctx.prices);
}

/** sessions: create, retrieve, update, list, delete, archive. */
export const sessionRoutes: RouteModule = (app, ctx) => {
  const { sessions, eventLog, clock, config, drivers, prices, tenantBudgets } = ctx;
  const defaults = resourceDefaults(config);
  const lifecycle = lifecycleDefaults(config);
  const load = async (req: FastifyRequest, id: string) => {
    checkId('session', 'sesn_', id);
    return loadSession(req, id);
  };
  const ledgerOf = async (store: Store, ids: string[]) => {
    const [tokens, sandbox] = await Promise.all([store.sessionUsages(ids), store.sandboxUsages(ids)]);
    return (id: string): SessionLedger => ({ tokens: tokens.get(id)!, sandbox: sandbox.get(id)! });
  };
  const wire = async (req: FastifyRequest, s: SessionRecord) => wireSession(s, storeOf(req), ctx);

  app.post('/v1/sessions', async (req) => {
    const store = storeOf(req);
    const b = parseInput(SessionCreateSchema, req.body);
    // A tenant whose monthly budget is spent gets no new sandbox: its sessions could not call the model anyway.
    const exhausted = await tenantBudgets.refusal(callerOf(req).tenantId);
    if (exhausted) throw new ApiError('tenant_budget_exhausted', exhausted);
    const ref = b.agent;
    const agentId = typeof ref === 'string' ? ref : ref.id;
    const version = typeof ref === 'string' ? undefined : ref.version;
    const agent = await store.getAgent(agentId, version);
    if (!agent) throw version ? notFound(`agent version ${version} of`, agentId) : notFound('agent', agentId);
    if (agent.archived_at) throw new ApiError('agent_archived', `Agent '${agentId}' is archived. Use an active agent.`);
    checkId('environment', 'env_', b.environment_id);
    const env = await store.getEnvironment(b.environment_id);
    if (!env) throw notFound('environment', b.environment_id);
    if (env.archived_at) {
      throw new ApiError(
        'environment_archived',
        `Environment '${env.id}' is archived. Create sessions in an active environment.`,
      );
    }
    if (env.config.type !== 'cloud') {
      throw new ApiError(
        'unsupported_feature',
        `Environment '${env.id}' is self_hosted; Berth runs sessions in cloud environments only.`,
      );
    }
    const pkgs = (env.config.packages ?? {}) as Record<string, unknown>;
    const wanted = Object.entries(pkgs)
      .filter(([, v]) => Array.isArray(v) && v.length > 0)
      .map(([k]) => k);
    if (wanted.length > 0) {
      throw new ApiError(
        'unsupported_feature',
        `Environment '${env.id}' lists config.packages (${wanted.join(', ')}), which this Berth build does not install ` +
          'into sandboxes yet. Remove them from the environment (install what the agent needs on the host image), or ' +
          'let the agent install them itself with allow_package_managers.',
      );
    }
    // github_repository resources (session-resources/git*.ts) keep their tokens apart; every other type goes through
    // the per-type handlers (session-resources/index.ts), which refuse types this build cannot mount.
    const entries = (b.resources ?? []).map((value, index) => ({ index, value }));
    const isGit = (e: { value: { type: string } }) => e.value.type === 'github_repository';
    const git = parseGitResources(entries.filter(isGit), env.config, clock());
    const others = await prepareResources(
      entries.filter((e) => !isGit(e)).map((e) => e.value),
      { store, clock },
    );
    const resources = [...others, ...git.resources];
    checkMountPaths(resources);
    for (const vaultId of b.vault_ids ?? []) {
      const vault = await store.getVault(vaultId);
      if (!vault) throw notFound('vault', vaultId);
      if (vault.archived_at) {
        throw new ApiError('vault_archived', `Vault '${vaultId}' is archived. Attach only active vaults to a session.`);
      }
    }
    // The session's lifecycle overrides the environment's field by field, like its resources.
    const policy = resolveLifecycle(b.berth?.lifecycle, lifecycle, LifecycleSchema.parse(env.berth.lifecycle ?? {}));
    const envMax = env.berth.max_sessions;
    const agentSnapshot = snapshot(agent, ref);
    assertRunnable(agentSnapshot);
    if (b.budget) assertBudgetable(agentSnapshot, prices);
    const now = clock();
    const session = await sessions.create(
      {
        id: newId('session'),
        // The SessionService writes through the unscoped store: the owner is named here.
        tenant_id: callerOf(req).tenantId,
        environment_id: env.id,
        agent_id: agent.id,
        agent_version: agent.version,
        agent: agentSnapshot,
        title: b.title ?? null,
        metadata: b.metadata ?? {},
        resources: resources,
        vault_ids: b.vault_ids ?? [],
        budget: b.budget ?? null,
        status: 'idle',
        // Changing the environment later does not change a running session: its limits are copied here.
        berth: {
          driver: env.berth.driver ?? 'bwrap',
          // The session's own limits override the environment's, field by field; the rest keep the environment's.
          resources: resolveResources(
            { ...ResourcesSchema.parse(env.berth.resources ?? {}), ...b.berth?.resources },
            defaults,
            capabilitiesOf(drivers, (env.berth.driver as string | undefined) ?? 'bwrap'),
          ),
          lifecycle: policy,
        },
        stats: {},
        runner_acked_seq: 0,
        created_at: now,
        updated_at: now,
        archived_at: null,
      },
      { envMaxSessions: typeof envMax === 'number' ? envMax : undefined },
      git.tokens,
    );
    if (b.initial_events?.length) {
      await sessions.send(
        session.id,
        b.initial_events.map((e) => ({ ...e, id: newId('event') })),
      );
    }
    return wire(req, (await store.getSession(session.id))!);
  });

  app.get('/v1/sessions/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    return wire(req, await load(req, id));
  });

  app.post('/v1/sessions/:id', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(SessionUpdateSchema, req.body ?? {});
    const s = await load(req, id);
    if (b.vault_ids !== undefined) {
      throw new ApiError(
        'invalid_request',
        'vault_ids cannot change after a session is created. Create a new session instead.',
      );
    }
    if (s.archived_at) throw new ApiError('session_archived', `Session '${id}' is archived and read-only.`);
    const changed: JsonObject = {};
    if (b.budget) {
      await checkBudgetUpdate(s, b.budget, store, prices);
      if (JSON.stringify(b.budget) !== JSON.stringify(s.budget)) changed.budget = b.budget;
    }
    if (b.agent && (b.agent.tools || b.agent.mcp_servers)) {
      if (s.status === 'terminated') {
        throw new ApiError('session_terminated', `Session '${id}' has terminated; create a new session instead.`);
      }
      const tools = b.agent.tools ?? ToolsSchema.parse(s.agent.tools ?? []);
      const servers = b.agent.mcp_servers ?? McpServersSchema.parse(s.agent.mcp_servers ?? []);
      checkToolRefs(tools, servers);
      const agent: JsonObject = { ...s.agent, tools: resolveTools(tools), mcp_servers: servers };
      assertRunnable(agent);
      await sessions.reconfigure(id, agent);
      changed.agent = agent;
    }
    if (b.title !== undefined && b.title !== s.title) changed.title = b.title;
    if (b.metadata) {
      const metadata = patchMetadata(s.metadata, b.metadata);
      if (JSON.stringify(metadata) !== JSON.stringify(s.metadata)) changed.metadata = metadata;
    }
    if (b.budget === null && s.budget !== null) changed.budget = null;
    if (Object.keys(changed).length === 0) return wire(req, s);
    const updated = await store.updateSession(id, { ...(changed as Partial<SessionRecord>), updated_at: clock() });
    // The history says what changed (changed fields only), like every other state change.
    await eventLog.append(id, [{ id: newId('event'), type: 'session.updated', ...changed }]);
    return wire(req, updated!);
  });

  app.get('/v1/sessions', async (req) => {
    const store = storeOf(req);
    const q = parseInput(SessionListQuerySchema, req.query, 'query');
    const statuses = q['statuses[]'];
    // Berth has no deployments or memory stores: filtering by one matches nothing.
    if (q.deployment_id || q.memory_store_id) return { data: [], next_page: null, prev_page: null };
    const page = await store.listSessions({
      limit: q.limit,
      page: q.page,
      order: q.order,
      statuses: statuses === undefined ? undefined : Array.isArray(statuses) ? statuses : [statuses],
      includeArchived: q.include_archived ?? false,
      agentId: q.agent_id,
      agentVersion: q.agent_version,
      createdAt: rangeFrom(q, 'created_at'),
    });
    const ledger = await ledgerOf(
      store,
      page.data.map((s) => s.id),
    );
    return {
      data: page.data.map((s) => serializeSession(s, ledger(s.id), sessions, prices)),
      next_page: page.next,
      prev_page: page.prev,
    };
  });

  app.delete('/v1/sessions/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    await sessions.delete(id);
    return { id, type: 'session_deleted' };
  });

  app.post('/v1/sessions/:id/archive', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    return wire(req, await sessions.archive(id));
  });
};
