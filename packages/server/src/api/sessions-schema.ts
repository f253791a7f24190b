import { z } from 'zod';
import { MetadataPatchSchema, MetadataSchema, bool, limit, rangeQuery } from './common.js';
import { ModelSchema } from './agents-schema.js';
import { McpServersSchema, SkillsSchema, ToolsSchema } from './tools.js';
import { UserMessageSchema } from './events-schema.js';
import { ResourcesSchema } from '../resources.js';
import { LifecycleSchema } from '../lifecycle.js';

/** Request shapes of the sessions routes (§2 SessionCreate / SessionUpdate / list). */

const agentId = z
  .string()
  .regex(/^agent_/, "agent ids start with 'agent_'")
  .max(128);

export const AgentRefSchema = z.union([
  agentId,
  z.strictObject({
    type: z.literal('agent'),
    id: agentId,
    version: z.number().int().positive().max(2_147_483_647).optional(),
  }),
  z.strictObject({
    type: z.literal('agent_with_overrides'),
    id: agentId,
    version: z.number().int().positive().max(2_147_483_647).optional(),
    model: ModelSchema.optional(),
    system: z.string().max(200_000).nullable().optional(),
    tools: ToolsSchema.optional(),
    mcp_servers: McpServersSchema.optional(),
    skills: SkillsSchema.optional(),
  }),
]);

const Money = z.strictObject({
  amount: z.string().regex(/^(0|[1-9]\d{0,14})$/, 'amount is an integer in cents as a string, like "2500" for $25.00'),
  currency: z.literal('USD'),
});
export const BudgetSchema = z.strictObject({ type: z.literal('limit'), max_list_cost: Money });

export const SessionCreateSchema = z.strictObject({
  agent: AgentRefSchema,
  environment_id: z.string().min(1).max(128),
  title: z.string().max(500).nullable().optional(),
  metadata: MetadataSchema.optional(),
  resources: z
    .array(z.object({ type: z.string() }).loose())
    .max(100)
    .optional(),
  /** Vaults whose credentials the session uses, in priority order (first wins for the same server or variable). */
  vault_ids: z
    .array(z.string().regex(/^vlt_/, "vault ids start with 'vlt_'").max(128))
    .max(20)
    .refine((ids) => new Set(ids).size === ids.length, 'must not list a vault twice')
    .optional(),
  budget: BudgetSchema.nullable().optional(),
  initial_events: z.array(UserMessageSchema).max(50).optional(),
  /** Berth's addition: per-session overrides of the environment's `berth` settings. */
  berth: z.strictObject({ resources: ResourcesSchema.optional(), lifecycle: LifecycleSchema.optional() }).optional(),
});

export const SessionUpdateSchema = z.strictObject({
  title: z.string().max(500).nullable().optional(),
  metadata: MetadataPatchSchema.optional(),
  agent: z.strictObject({ tools: ToolsSchema.optional(), mcp_servers: McpServersSchema.optional() }).optional(),
  budget: BudgetSchema.nullable().optional(),
  vault_ids: z.unknown().optional(),
});

export const SessionListQuerySchema = z.object({
  limit: limit(1000, 20),
  page: z.string().max(2048).optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
  'statuses[]': z
    .union([
      z.enum(['idle', 'running', 'rescheduling', 'terminated']),
      z.array(z.enum(['idle', 'running', 'rescheduling', 'terminated'])),
    ])
    .optional(),
  include_archived: bool.optional(),
  agent_id: z.string().max(128).optional(),
  agent_version: z.coerce.number().int().positive().max(2_147_483_647).optional(),
  deployment_id: z.string().max(128).optional(),
  memory_store_id: z.string().max(128).optional(),
  ...rangeQuery('created_at'),
});

export const EventListQuerySchema = z.object({
  limit: limit(1000, 1000),
  page: z.string().max(2048).optional(),
  order: z.enum(['asc', 'desc']).default('asc'),
  'types[]': z.union([z.string().max(64), z.array(z.string().max(64)).max(100)]).optional(),
  ...rangeQuery('created_at'),
});
