import type { McpSdkServerConfigWithInstance, McpServerConfig, Options } from '@anthropic-ai/claude-agent-sdk';
import type { SessionRunConfig } from '@berth/protocol';

/**
 * The environment entry that marks every process of a session: the CLI gets it and its tools inherit it, so the
 * reaper can find them even after they detach. Its value is the Berth session id.
 */
export const SESSION_MARKER_ENV = 'BERTH_SESSION_ID';

/** Inputs to {@link buildQueryOptions}. */
export interface QueryOptionsInput {
  sessionId: string;
  config: SessionRunConfig;
  /** The model forwarder's URL (http://127.0.0.1:<port>). */
  baseUrl: string;
  /** The egress forwarder's URL (http://127.0.0.1:<port>): HTTP_PROXY and HTTPS_PROXY. */
  proxyUrl: string;
  /** PATH for the CLI. */
  path: string;
  /** Resume the SDK session from its transcript instead of starting it. */
  resume: boolean;
  /** CLAUDE_CODE_TMPDIR for this session. */
  tmpDir: string;
  abortController: AbortController;
  spawnClaudeCodeProcess: NonNullable<Options['spawnClaudeCodeProcess']>;
  /** The PreToolUse hooks that enforce the tool policy (see permissions.ts). */
  preToolUse?: NonNullable<Options['hooks']>['PreToolUse'];
  /** The in-process server of the agent's custom tools, when it has any. */
  customTools?: McpSdkServerConfigWithInstance;
}

/**
 * The sandbox's own loopback: never proxied. `127.0.0.1` inside the sandbox is the sandbox (its dev servers, the
 * model forwarder), not the host; a host service is reached through the proxy only when its IP literal is allowed
 * and the client sends the request to the proxy (any address but these).
 */
export const NO_PROXY_LIST = 'localhost,127.0.0.1,::1';

/**
 * The CLI's complete environment (`env` replaces, it does not merge). Order matters: defaults first, then the
 * session's `config.env` (which may set e.g. CLAUDE_CODE_MAX_RETRIES, IS_SANDBOX or PATH), then the entries
 * Berth must control and `config.env` cannot override: the gateway URL and token, the egress proxy, the config
 * dir, no non-essential traffic, and the session marker. The proxy variables are a convenience for the tools;
 * egress is enforced structurally (the sandbox has no route but the forwarders).
 */
export function buildCliEnv(
  i: Omit<QueryOptionsInput, 'abortController' | 'spawnClaudeCodeProcess' | 'preToolUse' | 'customTools'>,
): Record<string, string> {
  return {
    PATH: i.path,
    HOME: i.config.home,
    CLAUDE_CODE_TMPDIR: i.tmpDir,
    ...i.config.env,
    HTTP_PROXY: i.proxyUrl,
    HTTPS_PROXY: i.proxyUrl,
    http_proxy: i.proxyUrl,
    https_proxy: i.proxyUrl,
    NO_PROXY: NO_PROXY_LIST,
    no_proxy: NO_PROXY_LIST,
    CLAUDE_CONFIG_DIR: i.config.config_dir,
    ANTHROPIC_BASE_URL: i.baseUrl,
    ANTHROPIC_API_KEY: i.config.gateway_token,
    // Without it the CLI also calls the public API host directly (feature flags, telemetry), which has no route.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    [SESSION_MARKER_ENV]: i.sessionId,
    ...(i.config.env.CLAUDE_CODE_ENABLE_TELEMETRY === '1' ? telemetryEnv(i) : {}),
  };
}

/**
 * Where the CLI's own OpenTelemetry export goes when berthd turned it on (`--otel-cli`): to the model forwarder,
 * authenticated with the session token like a model call; berthd's gateway relays it to the collector. The CLI's
 * OTLP exporter ignores HTTP(S)_PROXY, so the egress path is not an option, and 127.0.0.1 is in NO_PROXY anyway.
 * The resource attribute ties its metrics and events to the Berth session.
 */
function telemetryEnv(i: Pick<QueryOptionsInput, 'baseUrl' | 'config' | 'sessionId'>): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: i.baseUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${i.config.gateway_token}`,
    OTEL_RESOURCE_ATTRIBUTES: `berth.session_id=${i.sessionId}`,
  };
}

/** SDK `query()` options for one session. Pure: everything it needs comes in `i`. */
export function buildQueryOptions(i: QueryOptionsInput): Options {
  const c = i.config;
  const options: Options = {
    cwd: c.cwd,
    // Load no user/project settings: the session is configured by berthd alone.
    settingSources: [],
    // WebFetch otherwise first asks claude.ai whether the domain is blocked; the egress proxy is the policy here.
    settings: { skipWebFetchPreflight: true, ...(c.fast_mode ? { fastMode: true } : {}) },
    maxTurns: c.max_turns,
    model: c.model,
    disallowedTools: c.disallowed_tools,
    allowedTools: c.allowed_tools ?? [],
    includePartialMessages: true,
    permissionMode: 'bypassPermissions',
    allowDangerouslySkipPermissions: true,
    env: buildCliEnv(i),
    abortController: i.abortController,
    // Our own spawn: it gives us the CLI pid (for the process reaper) and its stderr (for the log).
    spawnClaudeCodeProcess: i.spawnClaudeCodeProcess,
  };
  // allowedTools only pre-approves (everything is approved under bypassPermissions); `tools` is what limits the
  // built-in set the model sees (MCP and custom tools come on top). null leaves the CLI's default set.
  if (c.allowed_tools !== null) options.tools = c.allowed_tools;
  const servers: Record<string, McpServerConfig> = {};
  // Streamable HTTP; the CLI reaches them through HTTP(S)_PROXY, where the egress proxy decides and injects.
  for (const s of c.mcp_servers) servers[s.name] = { type: 'http', url: s.url };
  if (i.customTools) servers[i.customTools.name] = i.customTools;
  if (Object.keys(servers).length > 0) options.mcpServers = servers;
  if (i.preToolUse) options.hooks = { PreToolUse: i.preToolUse };
  if (c.system !== null) options.systemPrompt = c.system;
  if (c.effort !== null) options.effort = c.effort;
  if (i.resume) options.resume = c.sdk_session_id;
  else options.sessionId = c.sdk_session_id;
  return options;
}
