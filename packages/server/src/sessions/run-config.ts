import {
  cliMcpServerName,
  CUSTOM_TOOL_SERVER,
  MANAGED_TO_TOOL_NAME,
  SANDBOX_PATHS,
  type SessionRunConfig,
} from '@berth/protocol';
import { ApiError } from '../errors.js';
import type { JsonObject } from '../store/store.js';

/** The parts of a session's agent snapshot that decide how the runner starts the SDK. */
interface ResolvedToolConfig {
  name: string;
  enabled: boolean;
  permission_policy: { type: string };
  allowed_domains?: string[];
  blocked_domains?: string[];
  max_content_tokens?: unknown;
  url_sources?: unknown;
  user_location?: unknown;
}
interface ResolvedTool {
  type: string;
  name?: string;
  description?: string;
  input_schema?: Record<string, unknown>;
  mcp_server_name?: string;
  default_config?: { enabled: boolean; permission_policy: { type: string } };
  configs?: ResolvedToolConfig[];
}

/**
 * Refuses agent features this build cannot honour, so a definition is never silently weakened (DESIGN rule 5): the
 * `auto` permission policy, web tool options other than the domain lists, non-URL MCP servers, an MCP server that
 * takes the custom tools' reserved name, and skills. Each refusal names the field.
 */
export function assertRunnable(agent: JsonObject): void {
  const tools = (agent.tools ?? []) as unknown as ResolvedTool[];
  const refuse = (what: string) => {
    throw new ApiError(
      'unsupported_feature',
      `This Berth build cannot run agents with ${what}; the session was not created. Remove it from the agent (or use agent_with_overrides).`,
    );
  };
  const checkPolicy = (policy: { type: string } | undefined, where: string) => {
    if (policy?.type === 'auto') refuse(`the 'auto' permission policy (${where}; use always_allow or always_ask)`);
  };
  for (const t of tools) {
    if (t.type === 'mcp_toolset') {
      if (t.default_config?.enabled)
        checkPolicy(t.default_config.permission_policy, `MCP toolset '${t.mcp_server_name ?? ''}' default_config`);
    }
    for (const c of t.configs ?? []) {
      if (!c.enabled) continue;
      checkPolicy(c.permission_policy, `tool '${c.name}'`);
      const web = c.name === 'web_fetch' || c.name === 'web_search';
      if (!web && (c.allowed_domains !== undefined || c.blocked_domains !== undefined))
        refuse(`domain lists on tool '${c.name}' (only web_fetch and web_search take them)`);
      for (const field of ['max_content_tokens', 'url_sources', 'user_location'] as const) {
        if (c[field] !== undefined) refuse(`${c.name}.${field} (not enforceable on the Claude Agent SDK)`);
      }
    }
  }
  const cliNames = new Map<string, string>();
  for (const s of (agent.mcp_servers ?? []) as unknown as Array<{ type?: string; name?: string }>) {
    const cli = cliMcpServerName(s.name ?? '');
    const other = cliNames.get(cli);
    if (other !== undefined) refuse(`MCP servers '${other}' and '${s.name ?? ''}' (the SDK names both '${cli}')`);
    cliNames.set(cli, s.name ?? '');
    if (s.type !== 'url') refuse(`MCP servers of type '${s.type ?? ''}' ('${s.name ?? ''}'); only 'url' servers run`);
    if (s.name === CUSTOM_TOOL_SERVER)
      refuse(`an MCP server named '${CUSTOM_TOOL_SERVER}' (the name is reserved for custom tools; rename it)`);
  }
  if (Array.isArray(agent.skills) && agent.skills.length) refuse('skills');
  const effort = (agent.model as { effort?: { type?: string } } | undefined)?.effort?.type;
  if (effort !== undefined && !EFFORTS.includes(effort as Effort)) {
    refuse(`model.effort '${effort}' (the SDK takes ${EFFORTS.join(', ')})`);
  }
  if ((agent.model as { inference_geo?: unknown } | undefined)?.inference_geo !== undefined) {
    refuse('model.inference_geo (the model gateway decides where requests go)');
  }
}

const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'] as const;
type Effort = (typeof EFFORTS)[number];

/**
 * The agent's tool policy in Claude Code names: `ask_tools` wait for `user.tool_confirmation`; `allow_tools` are MCP
 * tools allowed although their server asks by default. The toolset default is `always_allow`, an MCP toolset's
 * `always_ask` (the resolved definition spells every default out).
 */
export function toolPolicies(agent: JsonObject): Pick<SessionRunConfig, 'ask_tools' | 'allow_tools' | 'web_domains'> {
  const tools = (agent.tools ?? []) as unknown as ResolvedTool[];
  const ask: string[] = [];
  const allow: string[] = [];
  const web: SessionRunConfig['web_domains'] = {};
  for (const t of tools) {
    if (t.type === 'agent_toolset_20260401') {
      for (const c of t.configs ?? []) {
        const cc = MANAGED_TO_TOOL_NAME[c.name];
        if (!cc || !c.enabled) continue;
        if (c.permission_policy.type === 'always_ask') ask.push(cc);
        if ((cc === 'WebFetch' || cc === 'WebSearch') && (c.allowed_domains || c.blocked_domains)) {
          web[cc] = {
            ...(c.allowed_domains ? { allowed: c.allowed_domains } : {}),
            ...(c.blocked_domains ? { blocked: c.blocked_domains } : {}),
          };
        }
      }
    } else if (t.type === 'mcp_toolset') {
      const server = `mcp__${cliMcpServerName(t.mcp_server_name ?? '')}`;
      const serverAsks = t.default_config?.permission_policy.type !== 'always_allow';
      if (serverAsks) ask.push(server);
      for (const c of t.configs ?? []) {
        const name = `${server}__${c.name}`;
        const asks = c.permission_policy.type === 'always_ask';
        if (asks && !serverAsks) ask.push(name);
        if (!asks && serverAsks) allow.push(name);
      }
    }
  }
  return { ask_tools: ask, allow_tools: allow, web_domains: web };
}

/** The agent's custom tools, for the runner's in-process MCP server. */
export function customTools(agent: JsonObject): SessionRunConfig['custom_tools'] {
  return ((agent.tools ?? []) as unknown as ResolvedTool[]).flatMap((t) =>
    t.type === 'custom' && t.name
      ? [{ name: t.name, description: t.description ?? '', input_schema: t.input_schema ?? { type: 'object' } }]
      : [],
  );
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
      if (t.default_config && !t.default_config.enabled) return [`mcp__${cliMcpServerName(server)}`];
      return (t.configs ?? []).filter((c) => !c.enabled).map((c) => `mcp__${cliMcpServerName(server)}__${c.name}`);
    });
  return [...builtin, ...mcp];
}

/**
 * The built-in Claude Code tools the model is offered: exactly the toolset's enabled tools. Claude Code's other
 * built-ins (subagents, cron, worktrees, notebooks, …) have no Managed Agents counterpart and are never offered.
 */
export function allowedTools(agent: JsonObject): string[] {
  const toolset = ((agent.tools ?? []) as unknown as ResolvedTool[]).find((t) => t.type === 'agent_toolset_20260401');
  return (toolset?.configs ?? []).flatMap((c) => {
    const cc = MANAGED_TO_TOOL_NAME[c.name];
    return c.enabled && cc ? [cc] : [];
  });
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
  const model = i.agent.model as { id: string; effort?: { type: string }; speed?: string };
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
    allowed_tools: allowedTools(i.agent),
    disallowed_tools: disallowedTools(i.agent),
    env: { ...i.env, CLAUDE_CODE_MAX_RETRIES: String(i.modelMaxRetries) },
    mcp_servers: mcpServers(i.agent),
    ...toolPolicies(i.agent),
    custom_tools: customTools(i.agent),
    effort: (model.effort?.type as Effort | undefined) ?? null,
    fast_mode: model.speed === 'fast',
  };
}
