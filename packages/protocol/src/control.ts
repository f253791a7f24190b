import { z } from 'zod';
import { RunnerEventSchema } from './events.js';

/**
 * The control protocol between berthd and the runner: newline-delimited JSON frames over the unix socket
 * `SANDBOX_PATHS.controlSocket`. berthd listens; the runner connects and reconnects whenever the connection drops
 * (berthd may restart while the sandbox keeps running).
 *
 * Delivery: each event the runner emits carries a per-session `seq` (1, 2, 3, … never reused). berthd persists the
 * event, then acks the seq; an ack is cumulative (it covers every lower seq of that session). The runner keeps every unacked event and re-sends it after a reconnect, starting after
 * the `acked_seq` berthd reports in `welcome`. berthd dedupes by event id, so a re-send is harmless.
 */

const sessionId = z.string().regex(/^sesn_[0-9A-HJKMNP-TV-Z]{26}$/);

// ---- runner → berthd -------------------------------------------------------------------------------------------

export const HelloFrameSchema = z.strictObject({
  type: z.literal('hello'),
  sandbox_id: z.string().max(64),
  runner_version: z.string().max(64),
  pid: z.number().int().positive(),
  /** Sessions this runner is hosting right now (empty on first start). */
  sessions: z.array(z.strictObject({ session_id: sessionId, last_seq: z.number().int().min(0) })).max(1000),
});

export const EventFrameSchema = z.strictObject({
  type: z.literal('event'),
  session_id: sessionId,
  seq: z.number().int().positive(),
  event: RunnerEventSchema,
});

/** The runner finished stopping a session (its query ended and its processes are gone). */
export const SessionStoppedFrameSchema = z.strictObject({
  type: z.literal('session_stopped'),
  session_id: sessionId,
});

/**
 * The session's agent process is initialised and can take a message without start-up delay. Not acked: the runner
 * repeats it after every `welcome` for each ready session, and berthd treats repeats as no-ops.
 */
export const SessionReadyFrameSchema = z.strictObject({
  type: z.literal('session_ready'),
  session_id: sessionId,
});

/**
 * The answer to `prepare_repository`. `phase` says which step failed (`clone`: fetching; `checkout`: the branch or
 * commit); `message` is the tail of git's stderr (text from the repository server may appear in it).
 */
export const RepositoryPreparedFrameSchema = z.strictObject({
  type: z.literal('repository_prepared'),
  session_id: sessionId,
  request_id: z.string().min(1).max(64),
  ok: z.boolean(),
  phase: z.enum(['clone', 'checkout']).optional(),
  /** The checked-out commit, when ok. */
  head: z
    .string()
    .regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/)
    .optional(),
  message: z.string().max(4096).optional(),
});

export const RunnerFrameSchema = z.discriminatedUnion('type', [
  HelloFrameSchema,
  EventFrameSchema,
  SessionStoppedFrameSchema,
  SessionReadyFrameSchema,
  RepositoryPreparedFrameSchema,
]);
export type RunnerFrame = z.infer<typeof RunnerFrameSchema>;

// ---- berthd → runner -------------------------------------------------------------------------------------------

const DomainLists = z.strictObject({
  allowed: z.array(z.string().max(253)).max(1000).optional(),
  blocked: z.array(z.string().max(253)).max(1000).optional(),
});

/** What the runner needs to start one agent session (one SDK `query()`). */
export const SessionRunConfigSchema = z.strictObject({
  /** Claude model id, e.g. `claude-sonnet-4-5`. */
  model: z.string().min(1).max(256),
  system: z.string().max(1_000_000).nullable(),
  max_turns: z.number().int().positive(),
  /** Working directory inside the sandbox. */
  cwd: z.string().startsWith('/'),
  /** HOME inside the sandbox. */
  home: z.string().startsWith('/'),
  /** CLAUDE_CONFIG_DIR inside the sandbox (per session). */
  config_dir: z.string().startsWith('/'),
  /** The per-session token the CLI presents to the model gateway as its API key. Not a real credential. */
  gateway_token: z.string().min(16).max(256),
  /** The SDK session UUID (`sessionId` option), chosen by berthd so transcripts have a known path. */
  sdk_session_id: z.string().uuid(),
  /** When set, resume this SDK session from its transcript instead of starting fresh. */
  resume: z.boolean(),
  /**
   * The built-in Claude Code tools the model is offered (already mapped from the Managed Agents toolset): exactly
   * these, `[]` for none. `null` means the CLI's default set (the runner's own tests).
   */
  allowed_tools: z.array(z.string().max(256)).max(256).nullable(),
  /** Claude Code tool names removed from the agent. */
  disallowed_tools: z.array(z.string().max(256)).max(256),
  /** Extra environment for the CLI (no secrets ever go here). */
  env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string().max(65536)),
  /** The agent's URL MCP servers (streamable HTTP), reached through the egress proxy. */
  mcp_servers: z
    .array(z.strictObject({ name: z.string().min(1).max(128), url: z.string().max(2048) }))
    .max(20)
    .default([]),
  /**
   * Tool calls that wait for a `tool_confirmation` (Managed Agents `always_ask`): Claude Code tool names, exact
   * (`Bash`, `mcp__docs__lookup`) or a whole MCP server (`mcp__docs`). A tool's own entry in `allow_tools` wins over
   * its server's entry here.
   */
  ask_tools: z.array(z.string().min(1).max(300)).max(512).default([]),
  /** MCP tools that run without asking although their server is in `ask_tools` (`mcp__<server>__<tool>`). */
  allow_tools: z.array(z.string().min(1).max(300)).max(512).default([]),
  /** Client-executed tools (Managed Agents `custom`): offered as `mcp__custom__<name>`, answered by the client. */
  custom_tools: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
        description: z.string().max(10_000),
        input_schema: z.record(z.string(), z.unknown()),
      }),
    )
    .max(256)
    .default([]),
  /** The agent model's reasoning effort (`model.effort`), or null for the model's default. */
  effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullable().default(null),
  /** The agent model's `speed: 'fast'` (Claude Code's fast mode). */
  fast_mode: z.boolean().default(false),
  /** Domain lists of the web tools (`web_fetch`, `web_search`), enforced before the tool runs. */
  web_domains: z.strictObject({ WebFetch: DomainLists.optional(), WebSearch: DomainLists.optional() }).default({}),
});
export type SessionRunConfig = z.infer<typeof SessionRunConfigSchema>;

export const UserContentBlockSchema = z.union([
  z.strictObject({ type: z.literal('text'), text: z.string() }),
  z.strictObject({
    type: z.literal('image'),
    source: z.record(z.string(), z.unknown()),
  }),
  z.strictObject({
    type: z.literal('document'),
    source: z.record(z.string(), z.unknown()),
    title: z.string().nullable().optional(),
    context: z.string().nullable().optional(),
  }),
]);

/** A branch or a full commit sha to check out (the Managed Agents `checkout` of a `github_repository` resource). */
export const RepositoryCheckoutSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('branch'), name: z.string().min(1).max(255) }),
  z.strictObject({ type: z.literal('commit'), sha: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/) }),
]);
export type RepositoryCheckout = z.infer<typeof RepositoryCheckoutSchema>;

/**
 * Clone a git repository into the sandbox before the session starts (see docs/adr/git-repository-resources.md). The
 * runner runs git as the sandbox user through the egress proxy; no credential is ever part of this frame: the proxy
 * adds it. `transport_url`, when set, is the plain-HTTP form git must use instead of `url` (an `https://` URL whose
 * TLS berthd's proxy originates); the runner records it as `url.<transport_url>.insteadOf` in the clone.
 */
export const PrepareRepositoryFrameSchema = z.strictObject({
  type: z.literal('prepare_repository'),
  session_id: sessionId,
  request_id: z.string().min(1).max(64),
  url: z.string().min(1).max(4096),
  transport_url: z.string().min(1).max(4096).nullable(),
  /** Absolute path inside the sandbox; created by git, must not exist or be empty. */
  path: z.string().startsWith('/').max(1024),
  checkout: RepositoryCheckoutSchema.nullable(),
});

/**
 * Open one preview tunnel (docs/adr/0016-port-previews.md): the runner connects to `127.0.0.1:<port>` (or `[::1]`) inside
 * the sandbox and to `SANDBOX_PATHS.tunnelSocket`, writes a {@link TunnelHeaderSchema} line naming `tunnel_id`, then
 * relays bytes both ways. It refuses a port nothing listens on and the ports of its own forwarders. Sandbox-wide:
 * `session_id` names the session the preview belongs to, which need not have an agent running.
 */
export const OpenTunnelFrameSchema = z.strictObject({
  type: z.literal('open_tunnel'),
  session_id: sessionId,
  /** berthd's random id for this tunnel (128 bits, hex); only berthd and this runner know it. */
  tunnel_id: z.string().regex(/^[0-9a-f]{32}$/),
  port: z.number().int().min(1).max(65535),
});

/**
 * The first line the runner writes on a tunnel socket connection: `ok`, then the relayed bytes follow; or a refusal
 * (`not_listening`: no LISTEN socket on the port; `reserved`: a port of the runner's own forwarders;
 * `connect_failed`: the connect itself failed), then the connection ends.
 */
export const TunnelHeaderSchema = z.strictObject({
  tunnel_id: z.string().regex(/^[0-9a-f]{32}$/),
  ok: z.boolean(),
  error: z.enum(['not_listening', 'reserved', 'connect_failed']).optional(),
  message: z.string().max(1024).optional(),
});
export type TunnelHeader = z.infer<typeof TunnelHeaderSchema>;

/** Longest tunnel header line, newline included; a longer first line closes the tunnel. */
export const MAX_TUNNEL_HEADER_BYTES = 2048;

export const BerthdFrameSchema = z.discriminatedUnion('type', [
  PrepareRepositoryFrameSchema,
  OpenTunnelFrameSchema,
  z.strictObject({
    type: z.literal('welcome'),
    /** Per session, the highest seq berthd has persisted; the runner re-sends everything above it. */
    sessions: z.array(z.strictObject({ session_id: sessionId, acked_seq: z.number().int().min(0) })),
  }),
  z.strictObject({ type: z.literal('ack'), session_id: sessionId, seq: z.number().int().positive() }),
  z.strictObject({ type: z.literal('start_session'), session_id: sessionId, config: SessionRunConfigSchema }),
  z.strictObject({
    type: z.literal('user_message'),
    session_id: sessionId,
    /** The id of the persisted `user.message` event this turn answers. */
    event_id: z.string(),
    content: z.array(UserContentBlockSchema).min(1),
  }),
  z.strictObject({ type: z.literal('interrupt'), session_id: sessionId }),
  /** The client's answer to an ask-gated tool call (`user.tool_confirmation`), by the tool use's event id. */
  z.strictObject({
    type: z.literal('tool_confirmation'),
    session_id: sessionId,
    tool_use_id: z.string(),
    result: z.enum(['allow', 'deny']),
    deny_message: z.string().max(10_000).nullable(),
  }),
  /** The client's result of a custom tool call (`user.custom_tool_result`), by the tool use's event id. */
  z.strictObject({
    type: z.literal('custom_tool_result'),
    session_id: sessionId,
    custom_tool_use_id: z.string(),
    content: z.array(z.strictObject({ type: z.literal('text'), text: z.string() })).max(100),
    is_error: z.boolean(),
  }),
  /** New tools or MCP servers for an idle session: the runner restarts its agent process with this config. */
  z.strictObject({ type: z.literal('reconfigure'), session_id: sessionId, config: SessionRunConfigSchema }),
  /** End the session's query and kill its processes; the runner answers with `session_stopped`. */
  z.strictObject({ type: z.literal('stop_session'), session_id: sessionId }),
]);
export type BerthdFrame = z.infer<typeof BerthdFrameSchema>;
