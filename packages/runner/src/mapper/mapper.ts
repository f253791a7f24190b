import type { SDKMessage } from '@anthropic-ai/claude-agent-sdk';
import {
  BUDGET_REACHED_MARKER,
  cliMcpServerName,
  CUSTOM_TOOL_SERVER,
  newId,
  TOOL_NAME_TO_MANAGED,
  type ModelUsage,
  type RunnerEvent,
} from '@berth/protocol';
import { MAX_MESSAGE_CHARS, toolResultContent, truncateText } from './content.js';
import { classifyModelError, maxTurnsMessage, modelErrorMessage } from './errors.js';
import { mergeUsage, zeroUsage } from './usage.js';

/** Options for {@link EventMapper}. */
export interface EventMapperOptions {
  /** The session's `max_turns`, named in the limit error. */
  maxTurns: number;
  /** Event id factory; tests pass a deterministic one. */
  newEventId?: () => string;
  /** Called for SDK input the mapper cannot place (logged by the session, never thrown). */
  onAnomaly?: (what: string, fields?: Record<string, unknown>) => void;
  /** The Managed Agents permission of a Claude Code tool (default: every tool `allow`). */
  permissionFor?: (toolName: string) => 'allow' | 'ask';
  /** The agent's MCP server names, so `mcp__<server>__<tool>` splits right even when a name contains `__`. */
  mcpServerNames?: () => readonly string[];
  /**
   * A tool use that waits for the client was mapped: an ask-gated call (`confirm`) or a custom tool call (`custom`).
   * Called synchronously, before the event is returned.
   */
  onGated?: (tooluId: string, eventId: string, kind: 'confirm' | 'custom') => void;
}

/** Why a turn ends without a result from the CLI. */
export type AbortReason = { kind: 'interrupted' } | { kind: 'crashed'; message: string };

// toolu ids remembered per session; old ones are forgotten first (a result never lags thousands of calls).
const MAX_TOOL_IDS = 10_000;

/**
 * Maps the SDK message stream of one agent session to Managed Agents events. It does no I/O: the session feeds
 * it SDK messages and control facts (a user message was sent, an interrupt was asked for) and sends what it
 * returns. It owns the turn state: running or idle, the open model-request span, toolu id → event id, and the
 * user messages the CLI has not consumed yet. See README.md for the mapping table.
 */
export class EventMapper {
  private running = false;
  private interrupting = false;
  private span: { id: string; usage: ModelUsage } | null = null;
  private readonly toolEventIds = new Map<string, string>();
  private apiError: { kind: string | null; text: string } | null = null;
  /** uuids of user messages handed to the SDK that no result has consumed yet. */
  private readonly outstanding = new Set<string>();
  private readonly newEventId: () => string;
  private readonly anomaly: (what: string, fields?: Record<string, unknown>) => void;

  /** Event ids of the tool uses that were MCP tool calls (their results become agent.mcp_tool_result). */
  private readonly mcpToolEvents = new Set<string>();
  /** Event ids of custom tool calls: their result is the client's `user.custom_tool_result`, so none is emitted. */
  private readonly customToolEvents = new Set<string>();
  /** The CLI's error text per failed MCP server (from `mcpServerStatus()`), set before the init is mapped. */
  private mcpErrors = new Map<string, string>();

  constructor(private readonly opts: EventMapperOptions) {
    this.newEventId = opts.newEventId ?? (() => newId('event'));
    this.anomaly = opts.onAnomaly ?? (() => {});
  }

  /** True while a turn is in progress (between `status_running` and `status_idle`). */
  get isRunning(): boolean {
    return this.running;
  }

  /** True while a model request streams (between its `span.model_request_start` and `_end`). */
  get spanOpen(): boolean {
    return this.span !== null;
  }

  /** The turn waits for the client: `session.status_idle` with `requires_action`. The turn itself goes on. */
  requiresAction(eventIds: string[]): RunnerEvent {
    return {
      id: this.newEventId(),
      type: 'session.status_idle',
      stop_reason: { type: 'requires_action', event_ids: eventIds },
      stop_details: null,
    };
  }

  /** Why each failed MCP server failed, in the CLI's words; used when the next `system/init` is mapped. */
  setMcpErrors(errors: ReadonlyMap<string, string>): void {
    this.mcpErrors = new Map(errors);
  }

  /** The client resolved every pending action: the turn runs again. */
  resumed(): RunnerEvent {
    return { id: this.newEventId(), type: 'session.status_running' };
  }

  /** A user message (SDK uuid) is about to be fed to the SDK: starts a turn unless one is running. */
  userMessage(uuid: string): RunnerEvent[] {
    this.outstanding.add(uuid);
    if (this.running) return [];
    this.running = true;
    return [{ id: this.newEventId(), type: 'session.status_running' }];
  }

  /** An interrupt was asked for. Returns false when idle (interrupting an idle session is a no-op). */
  requestInterrupt(): boolean {
    if (!this.running) return false;
    this.interrupting = true;
    return true;
  }

  /** Ends the running turn when no result will arrive (interrupt watchdog, crashed CLI). */
  abortTurn(reason: AbortReason): RunnerEvent[] {
    if (!this.running) return [];
    const events = this.closeSpan(null);
    if (reason.kind === 'crashed') {
      events.push(this.sessionError('unknown_error', reason.message));
      events.push(this.idle({ type: 'retries_exhausted' }));
    } else {
      events.push(this.idle({ type: 'end_turn' }));
    }
    this.running = false;
    this.interrupting = false;
    this.apiError = null;
    this.outstanding.clear();
    return events;
  }

  /** Maps one SDK message to the events it causes (often none). */
  map(msg: SDKMessage): RunnerEvent[] {
    // Subagent traffic (parent_tool_use_id set) surfaces through its Task tool's result, not as events.
    if ('parent_tool_use_id' in msg && msg.parent_tool_use_id) return [];
    if (msg.type === 'stream_event') return this.streamEvent(msg.event);
    if (msg.type === 'assistant') return this.assistant(msg);
    if (msg.type === 'user') return this.user(msg.message.content);
    if (msg.type === 'result') return this.result(msg);
    // Each api_retry is a model request that failed and will be retried.
    if (msg.type === 'system' && msg.subtype === 'api_retry') return this.failedRequest();
    if (msg.type === 'system' && msg.subtype === 'init') return this.mcpFailures(msg.mcp_servers);
    // Everything else (init, status, task and hook notices, …) has no Managed Agents counterpart.
    return [];
  }

  private streamEvent(event: Extract<SDKMessage, { type: 'stream_event' }>['event']): RunnerEvent[] {
    if (event.type === 'message_start') {
      const events = this.span ? this.closeSpan(null) : [];
      if (events.length > 0) this.anomaly('message_start while a model request span was open');
      const id = this.newEventId();
      this.span = { id, usage: mergeUsage(zeroUsage(), event.message.usage) };
      events.push({ id, type: 'span.model_request_start' });
      return events;
    }
    if (event.type === 'message_delta') {
      if (this.span) mergeUsage(this.span.usage, event.usage);
      return [];
    }
    if (event.type === 'message_stop') return this.closeSpan(false);
    return []; // content blocks arrive whole as assistant messages
  }

  private assistant(msg: Extract<SDKMessage, { type: 'assistant' }>): RunnerEvent[] {
    const blocks = msg.message.content as unknown as Array<Record<string, unknown>>;
    // The CLI reports a failed model call as a synthetic assistant message ("API Error: …") flagged with `error`.
    if (msg.error || msg.message.model === '<synthetic>') {
      const text = blocks.map((b) => (typeof b['text'] === 'string' ? b['text'] : '')).join('\n');
      if (msg.error) this.apiError = { kind: msg.error, text };
      const events = msg.error ? this.failedRequest() : [];
      if (msg.message.model === '<synthetic>') return events;
      return [...events, ...this.assistantBlocks(blocks)];
    }
    return this.assistantBlocks(blocks);
  }

  private assistantBlocks(blocks: Array<Record<string, unknown>>): RunnerEvent[] {
    const events: RunnerEvent[] = [];
    for (const block of blocks) {
      switch (block['type']) {
        case 'text': {
          const text = typeof block['text'] === 'string' ? block['text'] : '';
          if (text.length > 0) {
            events.push({
              id: this.newEventId(),
              type: 'agent.message',
              content: [{ type: 'text', text: truncateText(text, MAX_MESSAGE_CHARS) }],
            });
          }
          break;
        }
        case 'thinking':
        case 'redacted_thinking':
          events.push({ id: this.newEventId(), type: 'agent.thinking' });
          break;
        case 'tool_use':
          events.push(this.toolUse(String(block['id']), String(block['name']), block['input']));
          break;
        default:
          this.anomaly('assistant content block not mapped', { block_type: block['type'] });
      }
    }
    return events;
  }

  private toolUse(tooluId: string, name: string, rawInput: unknown): RunnerEvent {
    const id = this.newEventId();
    this.rememberTool(tooluId, id);
    const input = isRecord(rawInput) ? rawInput : { value: rawInput };
    const mcp = this.splitMcpName(name);
    if (mcp?.server === CUSTOM_TOOL_SERVER) {
      this.customToolEvents.add(id);
      this.opts.onGated?.(tooluId, id, 'custom');
      return { id, type: 'agent.custom_tool_use', name: mcp.tool, input };
    }
    const ask = (this.opts.permissionFor?.(name) ?? 'allow') === 'ask';
    if (ask) this.opts.onGated?.(tooluId, id, 'confirm');
    const permission = ask
      ? ({ evaluated_permission: 'ask', evaluation: { type: 'always_ask' } } as const)
      : ({ evaluated_permission: 'allow', evaluation: { type: 'always_allow' } } as const);
    // The CLI names MCP tools `mcp__<server>__<tool>`; Managed Agents reports them as MCP events.
    if (mcp) {
      this.mcpToolEvents.add(id);
      return { id, type: 'agent.mcp_tool_use', name: mcp.tool, mcp_server_name: mcp.server, input, ...permission };
    }
    return { id, type: 'agent.tool_use', name: TOOL_NAME_TO_MANAGED[name] ?? name, input, ...permission };
  }

  /** `mcp__<server>__<tool>` → the agent's server name and the tool; null for other tools. */
  private splitMcpName(name: string): { server: string; tool: string } | null {
    if (!name.startsWith('mcp__')) return null;
    const servers = [CUSTOM_TOOL_SERVER, ...(this.opts.mcpServerNames?.() ?? [])];
    // Longest first: a server 'a' must not claim the tools of a server 'a__b'.
    for (const server of servers.sort((a, b) => b.length - a.length)) {
      const prefix = `mcp__${cliMcpServerName(server)}__`;
      if (name.startsWith(prefix) && name.length > prefix.length) return { server, tool: name.slice(prefix.length) };
    }
    const m = /^mcp__(.+?)__(.+)$/.exec(name);
    return m ? { server: m[1]!, tool: m[2]! } : null;
  }

  /**
   * MCP servers that did not connect when the CLI started: a `session.error` each. The session goes on without
   * their tools (the CLI does not retry), hence `exhausted`.
   */
  private mcpFailures(servers: ReadonlyArray<{ name: string; status: string }> | undefined): RunnerEvent[] {
    const events: RunnerEvent[] = [];
    for (const s of servers ?? []) {
      if (s.name === CUSTOM_TOOL_SERVER || (s.status !== 'failed' && s.status !== 'needs-auth')) continue;
      const why = this.mcpErrors.get(s.name);
      // A server that answers 401/403 fails the connection; the CLI's error text says which it was.
      const auth = s.status === 'needs-auth' || /\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(why ?? '');
      const detail = why ? ` (${why.slice(0, 500)})` : '';
      events.push({
        id: this.newEventId(),
        type: 'session.error',
        error: {
          type: auth ? 'mcp_authentication_failed_error' : 'mcp_connection_failed_error',
          message: auth
            ? `MCP server '${s.name}' refused the session's credentials${detail}. Add a vault credential for its URL (vault_ids on session create), or check the one you added.`
            : `Could not connect to MCP server '${s.name}'${detail}; its tools are not available in this session. Check its URL and that the environment allows it (networking.allow_mcp_servers).`,
          retry_status: { type: 'exhausted' },
          mcp_server_name: s.name,
        },
      });
    }
    return events;
  }

  private user(content: unknown): RunnerEvent[] {
    // User text here is the CLI's own (e.g. "[Request interrupted by user]"); only tool results map to events.
    if (!Array.isArray(content)) return [];
    const events: RunnerEvent[] = [];
    for (const block of content as Array<Record<string, unknown>>) {
      if (block['type'] !== 'tool_result') continue;
      const toolUseEventId = this.toolEventIds.get(String(block['tool_use_id']));
      if (!toolUseEventId) {
        this.anomaly('tool_result for an unknown tool_use', { tool_use_id: block['tool_use_id'] });
        continue;
      }
      // The client's user.custom_tool_result is already in the history; the CLI's copy of it adds nothing.
      if (this.customToolEvents.has(toolUseEventId)) continue;
      const common = {
        id: this.newEventId(),
        content: toolResultContent(block['content']),
        is_error: block['is_error'] === true,
      };
      events.push(
        this.mcpToolEvents.has(toolUseEventId)
          ? { ...common, type: 'agent.mcp_tool_result', mcp_tool_use_id: toolUseEventId }
          : { ...common, type: 'agent.tool_result', tool_use_id: toolUseEventId },
      );
    }
    return events;
  }

  private result(msg: Extract<SDKMessage, { type: 'result' }>): RunnerEvent[] {
    const events = this.closeSpan(null);
    this.consume(msg);
    if (!this.running) {
      this.anomaly('result while no turn was running', { subtype: msg.subtype });
      return events;
    }
    if (this.interrupting) {
      // Whatever the CLI says about an interrupted turn (usually error_during_execution), it ended by request.
      events.push(this.idle({ type: 'end_turn' }));
    } else if (msg.subtype === 'success' && !msg.is_error) {
      events.push(this.idle({ type: 'end_turn' }));
    } else if (
      msg.subtype === 'success' &&
      `${this.apiError?.text ?? ''} ${msg.result ?? ''}`.includes(BUDGET_REACHED_MARKER)
    ) {
      // The gateway refused the request: the session's budget is spent (not an error of the model).
      events.push(this.idle({ type: 'budget_reached' }));
    } else if (msg.subtype === 'success') {
      const status = (msg as { api_error_status?: number | null }).api_error_status;
      const type = classifyModelError(status, this.apiError?.kind);
      const detail = this.apiError?.text || msg.result || '';
      events.push(this.sessionError(type, modelErrorMessage(type, status, detail)));
      events.push(this.idle({ type: 'retries_exhausted' }));
    } else if (msg.subtype === 'error_max_turns') {
      events.push(this.sessionError('tool_use_limit_reached_error', maxTurnsMessage(this.opts.maxTurns)));
      events.push(this.idle({ type: 'retries_exhausted' }));
    } else if (msg.subtype === 'error_max_budget_usd') {
      events.push(this.idle({ type: 'budget_reached' }));
    } else {
      const detail = msg.errors.join('; ').slice(0, 2000) || msg.subtype;
      const text = `The agent stopped with an error (${detail}). Send another message to retry.`;
      events.push(this.sessionError('unknown_error', text));
      events.push(this.idle({ type: 'retries_exhausted' }));
    }
    this.interrupting = false;
    this.apiError = null;
    if (this.outstanding.size > 0) {
      // Messages sent during this turn that it did not fold in run as the next turn, right away.
      events.push({ id: this.newEventId(), type: 'session.status_running' });
    } else {
      this.running = false;
    }
    return events;
  }

  /** Drops the user messages a result says its turn consumed. */
  private consume(msg: Extract<SDKMessage, { type: 'result' }>): void {
    const r = msg as { user_message_uuids?: string[]; user_message_uuid?: string; queued_turn_count?: number };
    const consumed = r.user_message_uuids ?? (r.user_message_uuid ? [r.user_message_uuid] : undefined);
    if (consumed) {
      for (const id of consumed) this.outstanding.delete(id);
    } else if (!r.queued_turn_count) {
      // Older CLIs name nothing; without a queue count either, assume the turn took everything.
      this.outstanding.clear();
    } else {
      const oldest = this.outstanding.values().next();
      if (!oldest.done) this.outstanding.delete(oldest.value);
    }
  }

  /** A model request failed: close the open span as an error, or record a zero-usage failed span. */
  private failedRequest(): RunnerEvent[] {
    if (this.span) return this.closeSpan(true);
    const id = this.newEventId();
    return [
      { id, type: 'span.model_request_start' },
      {
        id: this.newEventId(),
        type: 'span.model_request_end',
        model_request_start_id: id,
        is_error: true,
        model_usage: zeroUsage(),
      },
    ];
  }

  /** Closes the open span; `is_error: null` means it ended without a verdict (interrupt, lost stream). */
  private closeSpan(isError: boolean | null): RunnerEvent[] {
    if (!this.span) return [];
    const { id, usage } = this.span;
    this.span = null;
    return [
      {
        id: this.newEventId(),
        type: 'span.model_request_end',
        model_request_start_id: id,
        is_error: isError,
        model_usage: usage,
      },
    ];
  }

  private idle(stopReason: { type: 'end_turn' | 'retries_exhausted' | 'budget_reached' }): RunnerEvent {
    return { id: this.newEventId(), type: 'session.status_idle', stop_reason: stopReason, stop_details: null };
  }

  private sessionError(
    type: Extract<RunnerEvent, { type: 'session.error' }>['error']['type'],
    message: string,
  ): RunnerEvent {
    return {
      id: this.newEventId(),
      type: 'session.error',
      error: { type, message: message.slice(0, 10_000), retry_status: { type: 'exhausted' } },
    };
  }

  private rememberTool(tooluId: string, eventId: string): void {
    this.toolEventIds.set(tooluId, eventId);
    if (this.toolEventIds.size > MAX_TOOL_IDS) {
      const oldest = this.toolEventIds.entries().next();
      if (!oldest.done) {
        this.toolEventIds.delete(oldest.value[0]);
        this.mcpToolEvents.delete(oldest.value[1]);
        this.customToolEvents.delete(oldest.value[1]);
      }
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
