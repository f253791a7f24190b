import { z } from 'zod';
import { EVENT_ID_RE } from './ids.js';

/**
 * Schemas for the Managed Agents events a runner may emit. Everything that comes out of a sandbox is untrusted:
 * berthd parses each event with `RunnerEventSchema` before it is persisted, so the shapes are strict and bounded.
 */

const MAX_TEXT = 1_000_000;
const eventId = z.string().regex(EVENT_ID_RE, 'expected an event id like sevt_<26 ULID chars>');

export const TextBlockSchema = z.strictObject({ type: z.literal('text'), text: z.string().max(MAX_TEXT) });

/** Content of a tool result as Managed Agents shows it: text blocks (images are summarised as text). */
export const ToolResultContentSchema = z.array(TextBlockSchema).max(100);

export const ModelUsageSchema = z.strictObject({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0),
  cache_creation_input_tokens: z.number().int().min(0),
  cache_read_input_tokens: z.number().int().min(0),
  speed: z.enum(['standard', 'fast']).optional(),
});
export type ModelUsage = z.infer<typeof ModelUsageSchema>;

export const StopReasonSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('end_turn') }),
  z.strictObject({ type: z.literal('requires_action'), event_ids: z.array(eventId).min(1).max(256) }),
  z.strictObject({ type: z.literal('retries_exhausted') }),
  z.strictObject({ type: z.literal('budget_reached') }),
  z.strictObject({ type: z.literal('refusal') }),
]);
export type StopReason = z.infer<typeof StopReasonSchema>;

/** `session.error` error types from the Managed Agents reference. */
export const SessionErrorTypeSchema = z.enum([
  'unknown_error',
  'model_overloaded_error',
  'model_rate_limited_error',
  'model_request_failed_error',
  'billing_error',
  'tool_use_limit_reached_error',
  'compaction_limit_reached_error',
  'mcp_connection_failed_error',
  'mcp_authentication_failed_error',
  'credential_host_unreachable_error',
  'repository_authentication_error',
  'repository_forbidden_error',
  'repository_not_found_error',
  'repository_checkout_error',
  'repository_clone_error',
]);
export type SessionErrorType = z.infer<typeof SessionErrorTypeSchema>;

export const SessionErrorBodySchema = z.strictObject({
  type: SessionErrorTypeSchema,
  message: z.string().max(10_000),
  retry_status: z.strictObject({ type: z.enum(['retrying', 'exhausted', 'terminal']) }),
  mcp_server_name: z.string().max(256).optional(),
  repository_url: z.string().max(4096).nullable().optional(),
});

const base = { id: eventId };

export const RunnerEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...base, type: z.literal('agent.message'), content: z.array(TextBlockSchema).min(1).max(100) }),
  z.strictObject({ ...base, type: z.literal('agent.thinking') }),
  z.strictObject({
    ...base,
    type: z.literal('agent.tool_use'),
    name: z.string().min(1).max(256),
    input: z.record(z.string(), z.unknown()),
    evaluated_permission: z.enum(['allow', 'ask', 'deny']).optional(),
    evaluation: z.strictObject({ type: z.enum(['always_allow', 'always_ask']) }).optional(),
  }),
  z.strictObject({
    ...base,
    type: z.literal('agent.tool_result'),
    tool_use_id: eventId,
    content: ToolResultContentSchema,
    is_error: z.boolean(),
  }),
  z.strictObject({
    ...base,
    type: z.literal('agent.mcp_tool_use'),
    name: z.string().min(1).max(256),
    mcp_server_name: z.string().min(1).max(256),
    input: z.record(z.string(), z.unknown()),
    evaluated_permission: z.enum(['allow', 'ask', 'deny']).optional(),
    evaluation: z.strictObject({ type: z.enum(['always_allow', 'always_ask']) }).optional(),
  }),
  z.strictObject({
    ...base,
    type: z.literal('agent.custom_tool_use'),
    name: z.string().min(1).max(256),
    input: z.record(z.string(), z.unknown()),
  }),
  z.strictObject({
    ...base,
    type: z.literal('agent.mcp_tool_result'),
    mcp_tool_use_id: eventId,
    content: ToolResultContentSchema,
    is_error: z.boolean(),
  }),
  z.strictObject({ ...base, type: z.literal('span.model_request_start') }),
  z.strictObject({
    ...base,
    type: z.literal('span.model_request_end'),
    model_request_start_id: eventId,
    is_error: z.boolean().nullable(),
    model_usage: ModelUsageSchema,
  }),
  z.strictObject({ ...base, type: z.literal('session.status_running') }),
  z.strictObject({
    ...base,
    type: z.literal('session.status_idle'),
    stop_reason: StopReasonSchema,
    stop_details: z.null(),
  }),
  z.strictObject({ ...base, type: z.literal('session.error'), error: SessionErrorBodySchema }),
  z.strictObject({ ...base, type: z.literal('session.status_terminated') }),
]);
/** An event as the runner emits it: a Managed Agents event without `processed_at` (berthd stamps it on persist). */
export type RunnerEvent = z.infer<typeof RunnerEventSchema>;
export type RunnerEventType = RunnerEvent['type'];

/**
 * The in-process MCP server that offers an agent's custom tools to the CLI: the model sees `mcp__custom__<name>`.
 * No agent MCP server may take this name.
 */
export const CUSTOM_TOOL_SERVER = 'custom';

/** How the CLI names an MCP server in `mcp__<server>__<tool>`: anything outside [A-Za-z0-9_-] becomes `_`. */
export function cliMcpServerName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** What the model gateway's refusal says once a session's budget is spent; the runner maps it to `budget_reached`. */
export const BUDGET_REACHED_MARKER = 'berth_budget_reached';

/** Managed Agents tool names for the Claude Code tools that have a counterpart in `agent_toolset_20260401`. */
export const TOOL_NAME_TO_MANAGED: Readonly<Record<string, string>> = {
  Bash: 'bash',
  Read: 'read',
  Write: 'write',
  Edit: 'edit',
  Glob: 'glob',
  Grep: 'grep',
  WebFetch: 'web_fetch',
  WebSearch: 'web_search',
};

/** The reverse of `TOOL_NAME_TO_MANAGED`: toolset name → Claude Code tool name. */
export const MANAGED_TO_TOOL_NAME: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(TOOL_NAME_TO_MANAGED).map(([k, v]) => [v, k]),
);
