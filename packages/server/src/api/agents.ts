import type { FastifyRequest } from 'fastify';
import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import { VersionConflictError, type AgentBody, type AgentRecord, type JsonObject } from '../store/store.js';
import { pickAgentBody } from '../store/rows.js';
import { AgentCreateSchema, AgentUpdateSchema, modelObject } from './agents-schema.js';
import { ListQuerySchema, checkId, limit, patchMetadata, rangeFrom } from './common.js';
import type { RouteModule } from './context.js';
import { storeOf } from './tenancy.js';
import { McpServersSchema, SkillsSchema, ToolsSchema, checkToolRefs, resolveSkills, resolveTools } from './tools.js';
import { parseInput } from './validate.js';

/** The wire form of an agent (§2 Agent). */
export function serializeAgent(a: AgentRecord): object {
  return {
    id: a.id,
    type: 'agent',
    ...pickAgentBody(a),
    version: a.version,
    created_at: a.created_at,
    updated_at: a.updated_at,
    archived_at: a.archived_at,
  };
}

const IdParams = z.object({ id: z.string() });
const VersionQuery = z.object({ version: z.coerce.number().int().positive().max(2_147_483_647).optional() });
const VersionsQuery = z.object({ limit: limit(1000, 20), page: z.string().max(2048).optional() });

/** agents: create, retrieve (?version=), update (versioned, 409 on mismatch), list, archive, versions. */
export const agentRoutes: RouteModule = (app, { clock }) => {
  const load = async (req: FastifyRequest, id: string, version?: number) => {
    checkId('agent', 'agent_', id);
    const a = await storeOf(req).getAgent(id, version);
    if (!a) throw version ? notFound(`agent version ${version} of`, id) : notFound('agent', id);
    return a;
  };

  app.post('/v1/agents', async (req) => {
    const store = storeOf(req);
    const b = parseInput(AgentCreateSchema, req.body);
    const tools = b.tools ?? [];
    const servers = b.mcp_servers ?? [];
    checkToolRefs(tools, servers);
    const now = clock();
    const agent: AgentRecord = {
      id: newId('agent'),
      version: 1,
      name: b.name,
      description: b.description ?? null,
      system: b.system ?? null,
      model: modelObject(b.model) as JsonObject,
      tools: resolveTools(tools),
      mcp_servers: servers,
      skills: resolveSkills(b.skills ?? []),
      metadata: b.metadata ?? {},
      multiagent: null,
      execution_identity: b.execution_identity ?? { type: 'service_account' },
      created_at: now,
      updated_at: now,
      archived_at: null,
    };
    await store.createAgent(agent);
    return serializeAgent(agent);
  });

  app.get('/v1/agents/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const { version } = parseInput(VersionQuery, req.query, 'query');
    return serializeAgent(await load(req, id, version));
  });

  app.post('/v1/agents/:id', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(AgentUpdateSchema, req.body ?? {});
    const current = await load(req, id);
    if (current.archived_at) {
      throw new ApiError('agent_archived', `Agent '${id}' is archived and read-only. Create a new agent instead.`);
    }
    const next = (cur: AgentRecord): AgentBody | null => {
      const tools = b.tools === undefined ? ToolsSchema.parse(cur.tools) : (b.tools ?? []);
      const servers = b.mcp_servers === undefined ? McpServersSchema.parse(cur.mcp_servers) : (b.mcp_servers ?? []);
      if (b.tools !== undefined || b.mcp_servers !== undefined) checkToolRefs(tools, servers);
      const body: AgentBody = {
        name: b.name ?? cur.name,
        description: b.description === undefined ? cur.description : b.description,
        system: b.system === undefined ? cur.system : b.system,
        model: b.model === undefined ? cur.model : (modelObject(b.model) as JsonObject),
        tools: b.tools === undefined ? cur.tools : resolveTools(tools),
        mcp_servers: servers,
        skills: b.skills === undefined ? cur.skills : resolveSkills(SkillsSchema.parse(b.skills ?? [])),
        metadata: patchMetadata(cur.metadata, b.metadata),
        multiagent: null,
        execution_identity: (b.execution_identity ?? cur.execution_identity) as JsonObject,
      };
      const unchanged = JSON.stringify(body) === JSON.stringify(pickAgentBody(cur));
      return unchanged ? null : body;
    };
    try {
      const updated = await store.updateAgent(id, b.version, next, clock());
      if (!updated) throw notFound('agent', id);
      return serializeAgent(updated);
    } catch (err) {
      if (err instanceof VersionConflictError) {
        throw new ApiError(
          'version_conflict',
          `Agent '${id}' is at version ${err.current}, not ${b.version}. Retrieve it, reapply your change and send version ${err.current}.`,
          { current_version: err.current },
          false,
        );
      }
      throw err;
    }
  });

  app.get('/v1/agents', async (req) => {
    const store = storeOf(req);
    const q = parseInput(ListQuerySchema, req.query, 'query');
    const page = await store.listAgents({
      limit: q.limit,
      page: q.page,
      includeArchived: q.include_archived ?? false,
      createdAt: rangeFrom(q, 'created_at'),
    });
    return { data: page.data.map(serializeAgent), next_page: page.next };
  });

  app.post('/v1/agents/:id/archive', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    return serializeAgent((await store.archiveAgent(id, clock()))!);
  });

  app.get('/v1/agents/:id/versions', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    const q = parseInput(VersionsQuery, req.query, 'query');
    await load(req, id);
    const page = await store.listAgentVersions(id, { limit: q.limit, page: q.page });
    return { data: page.data.map(serializeAgent), next_page: page.next };
  });
};
