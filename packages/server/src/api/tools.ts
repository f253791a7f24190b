import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { Json, JsonObject } from '../store/store.js';

/** The agent definition's `tools[]`, `mcp_servers[]` and `skills[]`: validation and the resolved wire form (§4). */

export const TOOLSET_NAMES = ['bash', 'read', 'write', 'edit', 'glob', 'grep', 'web_fetch', 'web_search'] as const;

const PermissionPolicy = z.strictObject({ type: z.enum(['always_allow', 'always_ask', 'auto']) });
const domains = z.array(z.string().min(1).max(253)).max(1000);

const ToolConfig = z.strictObject({
  name: z.enum(TOOLSET_NAMES),
  type: z.enum(TOOLSET_NAMES).optional(),
  enabled: z.boolean().optional(),
  permission_policy: PermissionPolicy.optional(),
  allowed_domains: domains.optional(),
  blocked_domains: domains.optional(),
  max_content_tokens: z.number().int().positive().optional(),
  url_sources: z.record(z.string(), z.boolean()).optional(),
  user_location: z.record(z.string(), z.string()).optional(),
});

const DefaultConfig = z.strictObject({
  enabled: z.boolean().optional(),
  permission_policy: PermissionPolicy.optional(),
});

const AgentToolset = z.strictObject({
  type: z.literal('agent_toolset_20260401'),
  default_config: DefaultConfig.optional(),
  configs: z.array(ToolConfig).max(64).optional(),
});

const McpToolset = z.strictObject({
  type: z.literal('mcp_toolset'),
  mcp_server_name: z.string().min(1).max(128),
  default_config: DefaultConfig.optional(),
  configs: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(256),
        enabled: z.boolean().optional(),
        permission_policy: PermissionPolicy.optional(),
      }),
    )
    .max(256)
    .optional(),
});

const CustomTool = z.strictObject({
  type: z.literal('custom'),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'custom tool names are 1-128 chars of [A-Za-z0-9_-]'),
  description: z.string().max(10_000),
  input_schema: z
    .object({
      type: z.literal('object'),
      properties: z.record(z.string(), z.unknown()).optional(),
      required: z.array(z.string()).optional(),
    })
    .loose(),
});

export const ToolSchema = z.discriminatedUnion('type', [AgentToolset, McpToolset, CustomTool]);
export const ToolsSchema = z.array(ToolSchema).max(256, 'an agent has at most 256 tools');

export const McpServerSchema = z.strictObject({
  name: z.string().min(1).max(128),
  type: z.literal('url'),
  url: z.url({ protocol: /^https?$/ }),
});
export const McpServersSchema = z.array(McpServerSchema).max(20, 'an agent has at most 20 MCP servers');

export const SkillSchema = z.strictObject({
  type: z.enum(['anthropic', 'custom']),
  skill_id: z.string().min(1).max(256),
  version: z.union([z.string().max(64), z.number().int()]).optional(),
});
export const SkillsSchema = z.array(SkillSchema).max(64, 'an agent has at most 64 skills');

type Tool = z.infer<typeof ToolSchema>;

/** Checks cross-field rules: every MCP toolset names a server, every server is referenced, names are unique. */
export function checkToolRefs(tools: Tool[], servers: z.infer<typeof McpServersSchema>): void {
  const names = new Set<string>();
  for (const s of servers) {
    if (names.has(s.name)) throw new ApiError('invalid_request', `mcp_servers: the name '${s.name}' is used twice.`);
    names.add(s.name);
  }
  const referenced = new Set<string>();
  const custom = new Set<string>();
  let toolsets = 0;
  for (const t of tools) {
    if (t.type === 'mcp_toolset') {
      if (!names.has(t.mcp_server_name)) {
        throw new ApiError(
          'invalid_request',
          `tools: mcp_toolset refers to mcp_server_name '${t.mcp_server_name}', which is not in mcp_servers. Add the server or fix the name.`,
        );
      }
      referenced.add(t.mcp_server_name);
    } else if (t.type === 'custom') {
      if (custom.has(t.name))
        throw new ApiError('invalid_request', `tools: the custom tool '${t.name}' is defined twice.`);
      custom.add(t.name);
    } else if (++toolsets > 1) {
      throw new ApiError('invalid_request', 'tools: agent_toolset_20260401 may appear only once.');
    }
  }
  for (const n of names) {
    if (!referenced.has(n)) {
      throw new ApiError(
        'invalid_request',
        `mcp_servers: '${n}' is not referenced by any mcp_toolset in tools. Add {type:'mcp_toolset', mcp_server_name:'${n}'}.`,
      );
    }
  }
}

/** The resolved (response) form of tools: every default filled in, every toolset tool listed. */
export function resolveTools(tools: Tool[]): Json[] {
  return tools.map((t): JsonObject => {
    if (t.type === 'custom') return t as unknown as JsonObject;
    const defaultPolicy = t.type === 'mcp_toolset' ? 'always_ask' : 'always_allow';
    const def = {
      enabled: t.default_config?.enabled ?? true,
      permission_policy: t.default_config?.permission_policy ?? { type: defaultPolicy },
    };
    if (t.type === 'mcp_toolset') {
      const configs = (t.configs ?? []).map((c) => ({
        name: c.name,
        enabled: c.enabled ?? def.enabled,
        permission_policy: c.permission_policy ?? def.permission_policy,
      }));
      return { type: t.type, mcp_server_name: t.mcp_server_name, default_config: def, configs };
    }
    const byName = new Map((t.configs ?? []).map((c) => [c.name, c]));
    const configs = TOOLSET_NAMES.map((name) => {
      const c = byName.get(name);
      return {
        ...(c ?? {}),
        name,
        type: name,
        enabled: c?.enabled ?? def.enabled,
        permission_policy: c?.permission_policy ?? def.permission_policy,
      };
    });
    return { type: t.type, default_config: def, configs };
  });
}

/** Skills as served: `version` is a string. */
export function resolveSkills(skills: z.infer<typeof SkillsSchema>): Json[] {
  return skills.map((s) => ({ type: s.type, skill_id: s.skill_id, version: String(s.version ?? 'latest') }));
}
