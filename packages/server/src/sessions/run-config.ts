import { MANAGED_TO_TOOL_NAME, SANDBOX_PATHS, type SessionRunConfig } from '@berth/protocol';
import { ApiError } from '../errors.js';
import type { JsonObject } from '../store/store.js';

/** The parts of a session's agent snapshot that decide how the runner starts the SDK. */
interface ResolvedToolConfig {
  name: string;
  enabled: boolean;
  permission_policy: { type: string };
  allowed_domains?: unknown;
  blocked_domains?: unknown;
}
interface ResolvedTool {
  type: string;
  name?: string;
  mcp_server_name?: string;
  default_config?: { enabled: boolean; permission_policy: { type: string } };
  configs?: ResolvedToolConfig[];
}

/**
 * Refuses agent features this build cannot honour yet, so a definition is never silently weakened (DESIGN rule 5):
 * ask policies, custom tools, MCP servers, skills and web domain lists.
 */
export function assertRunnable(agent: JsonObject): void {
  const tools = (agent.tools ?? []) as unknown as ResolvedTool[];
  const refuse = (what: string) => {
    throw new ApiError(
      'unsupported_feature',
      `This Berth build cannot run agents with ${what} yet; the session was not created. Remove it from the agent (or use agent_with_overrides).`,
    );
  };
  for (const t of tools) {
    if (t.type === 'custom') refuse(`custom tools ('${t.name ?? ''}')`);
    if (t.type === 'mcp_toolset') {
      // Tools the server offers but the toolset does not list get the default config.
      const d = t.default_config;
      if (d?.enabled && d.permission_policy.type !== 'always_allow') {
        refuse(
          `the '${d.permission_policy.type}' permission policy (MCP toolset '${t.mcp_server_name ?? ''}' default_config; set it to always_allow)`,
        );
      }
    }
    for (const c of t.configs ?? []) {
      if (!c.enabled) continue;
      if (c.permission_policy.type !== 'always_allow')
        refuse(`the '${c.permission_policy.type}' permission policy (tool '${c.name}')`);
      if (c.allowed_domains !== undefined || c.blocked_domains !== undefined) refuse(`domain lists (tool '${c.name}')`);
    }
  }
  for (const s of (agent.mcp_servers ?? []) as unknown as Array<{ type?: string; name?: string }>) {
    if (s.type !== 'url') refuse(`MCP servers of type '${s.type ?? ''}' ('${s.name ?? ''}'); only 'url' servers run`);
  }
  if (Array.isArray(agent.skills) && agent.skills.length) refuse('skills');
}

/**
 * Claude Code tool names the agent must not have: every toolset tool that is disabled or absent, and every MCP
 * tool its toolset disables (`mcp__<server>__<tool>`; a toolset disabled by default disables the whole server).
 */
export function disallowedTools(agent: JsonObject): string[] {
  const tools = (agent.tools ?? []) as unknown as ResolvedTool[];
  const toolset = tools.find((t) => t.type === 'agent_toolset_20260401');
  const enabled = new Set((toolset?.configs ?? []).filter((c) => c.enabled).map((c) => c.name));
  const builtin = Object.entries(MANAGED_TO_TOOL_NAME)
    .filter(([managed]) => !enabled.has(managed))
    .map(([, cc]) => cc);
  const mcp = tools
    .filter((t) => t.type === 'mcp_toolset')
    .flatMap((t) => {
      const server = t.mcp_server_name ?? '';
      if (t.default_config && !t.default_config.enabled) return [`mcp__${server}`];
      return (t.configs ?? []).filter((c) => !c.enabled).map((c) => `mcp__${server}__${c.name}`);
    });
  return [...builtin, ...mcp];
}

/** The agent's URL MCP servers, for the runner. */
export function mcpServers(agent: JsonObject): Array<{ name: string; url: string }> {
  return ((agent.mcp_servers ?? []) as unknown as Array<{ type?: string; name?: string; url?: string }>).flatMap((s) =>
    s.type === 'url' && s.name && s.url ? [{ name: s.name, url: s.url }] : [],
  );
}

export interface RunConfigInput {
  agent: JsonObject;
  gatewayToken: string;
  sdkSessionId: string;
  maxTurns: number;
  modelMaxRetries: number;
  resume?: boolean;
  /** Extra environment for the CLI and its tools (e.g. the CA trust variables). */
  env?: Record<string, string>;
}

/** The start_session config for the runner. Holds no secret: the gateway token only works through the gateway. */
export function buildRunConfig(i: RunConfigInput): SessionRunConfig {
  const model = i.agent.model as { id: string };
  return {
    model: model.id,
    system: typeof i.agent.system === 'string' ? i.agent.system : null,
    max_turns: i.maxTurns,
    cwd: SANDBOX_PATHS.workspace,
    home: SANDBOX_PATHS.home,
    config_dir: `${SANDBOX_PATHS.home}/.claude`,
    gateway_token: i.gatewayToken,
    sdk_session_id: i.sdkSessionId,
    resume: i.resume ?? false,
    allowed_tools: [],
    disallowed_tools: disallowedTools(i.agent),
    env: { ...i.env, CLAUDE_CODE_MAX_RETRIES: String(i.modelMaxRetries) },
    mcp_servers: mcpServers(i.agent),
  };
}
