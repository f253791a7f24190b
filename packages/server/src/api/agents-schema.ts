import { z } from 'zod';
import { MetadataPatchSchema, MetadataSchema } from './common.js';
import { McpServersSchema, SkillsSchema, ToolsSchema } from './tools.js';

/** Request bodies of the agents routes (§2 AgentCreate / AgentUpdate). */

export const ModelSchema = z.union([
  z.string().min(1).max(256),
  z.strictObject({
    id: z.string().min(1).max(256),
    effort: z
      .union([z.enum(['low', 'medium', 'high', 'max']), z.strictObject({ type: z.string().max(64) })])
      .optional(),
    inference_geo: z.string().max(64).optional(),
    speed: z.enum(['standard', 'fast']).optional(),
  }),
]);

const ExecutionIdentity = z.union([
  z.strictObject({ type: z.literal('service_account') }),
  z.object({ type: z.literal('aws_role') }).loose(),
]);

export const AgentCreateSchema = z.strictObject({
  name: z.string().min(1).max(256),
  model: ModelSchema,
  description: z.string().max(2048).nullable().optional(),
  system: z.string().max(200_000).nullable().optional(),
  tools: ToolsSchema.optional(),
  mcp_servers: McpServersSchema.optional(),
  skills: SkillsSchema.optional(),
  metadata: MetadataSchema.optional(),
  multiagent: z.null().optional(),
  execution_identity: ExecutionIdentity.optional(),
});

export const AgentUpdateSchema = z.strictObject({
  version: z.number().int().positive().max(2_147_483_647).optional(),
  name: z.string().min(1).max(256).optional(),
  model: ModelSchema.optional(),
  description: z.string().max(2048).nullable().optional(),
  system: z.string().max(200_000).nullable().optional(),
  tools: ToolsSchema.nullable().optional(),
  mcp_servers: McpServersSchema.nullable().optional(),
  skills: SkillsSchema.nullable().optional(),
  metadata: MetadataPatchSchema.optional(),
  multiagent: z.null().optional(),
  execution_identity: ExecutionIdentity.optional(),
});

/** The model as served: always an object. */
export function modelObject(m: z.infer<typeof ModelSchema>): { id: string; [k: string]: unknown } {
  if (typeof m === 'string') return { id: m };
  // The wire form of effort is an object; the string shorthand is accepted on input.
  return typeof m.effort === 'string' ? { ...m, effort: { type: m.effort } } : m;
}
