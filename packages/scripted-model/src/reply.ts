import { randomId } from './ids.js';
import type { ContentBlock, Message, StopReason, Usage } from './message.js';
import { offeredToolNames, type MessagesRequest } from './request.js';
import type { ReplyTurn, ScriptedBlock, ScriptedUsage } from './schema.js';

/** A placeholder signature for scripted thinking blocks; clients only echo it back. */
const THINKING_SIGNATURE = 'c2NyaXB0ZWQtbW9kZWw=';

/** A reply, or the reason the scripted turn cannot answer this request (sent as a 400). */
export type ReplyOutcome = { ok: true; message: Message } | { ok: false; message: string };

/** A rough, deterministic token count (4 characters per token), so the same request always reports the same usage. */
export function estimateTokens(value: unknown): number {
  return Math.max(1, Math.ceil((JSON.stringify(value ?? '') ?? '').length / 4));
}

/** The estimated input tokens of a request (also the `count_tokens` answer). */
export function estimateInputTokens(req: Pick<MessagesRequest, 'system' | 'messages'>): number {
  return estimateTokens([req.system ?? null, req.messages]);
}

/** The usage of a reply: the scripted counts exactly (missing ones 0), or an estimate when the turn has none. */
function usageFor(scripted: ScriptedUsage | undefined, req: MessagesRequest, content: ContentBlock[]): Usage {
  if (scripted) {
    return {
      input_tokens: scripted.input_tokens ?? 0,
      output_tokens: scripted.output_tokens ?? 0,
      cache_creation_input_tokens: scripted.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: scripted.cache_read_input_tokens ?? 0,
    };
  }
  return {
    input_tokens: estimateInputTokens(req),
    output_tokens: estimateTokens(content),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
}

/**
 * The offered tool a scripted name refers to: the exact name, else the single offered name ending in `__<name>`
 * (so `lookup_price` reaches `mcp__custom__lookup_price` without scenarios knowing MCP server names).
 */
export function resolveToolName(name: string, offered: string[]): { name: string } | { error: string } {
  if (offered.includes(name)) return { name };
  const matches = offered.filter((o) => o.endsWith(`__${name}`));
  if (matches.length === 1) return { name: matches[0]! };
  const list = offered.join(', ');
  if (matches.length > 1) return { error: `scripted tool "${name}" is ambiguous: it matches ${matches.join(', ')}` };
  return { error: `scripted tool "${name}" is not offered by this request; offered tools: ${list}` };
}

function toBlocks(scripted: ScriptedBlock[], offered: string[]): ContentBlock[] | string {
  const blocks: ContentBlock[] = [];
  for (const b of scripted) {
    if (b.type === 'text') blocks.push({ type: 'text', text: b.text });
    else if (b.type === 'thinking') {
      blocks.push({ type: 'thinking', thinking: b.thinking, signature: b.signature ?? THINKING_SIGNATURE });
    } else if (offered.length > 0) {
      // A request without tools (e.g. a title call) cannot receive tool_use, so those blocks are left out.
      const resolved = resolveToolName(b.name, offered);
      if ('error' in resolved) return resolved.error;
      blocks.push({ type: 'tool_use', id: randomId('toolu_'), name: resolved.name, input: b.input });
    }
  }
  return blocks;
}

/** Builds the Message answering `req` with a scripted reply turn. */
export function buildReply(turn: ReplyTurn, req: MessagesRequest, scenario: string): ReplyOutcome {
  const content = toBlocks(turn.content, offeredToolNames(req));
  if (typeof content === 'string') return { ok: false, message: `scenario ${scenario}: ${content}` };
  if (content.length === 0) {
    content.push({ type: 'text', text: `(scenario ${scenario}: tool calls left out, the request offers no tools)` });
  }
  const stop: StopReason = turn.stop_reason ?? (content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
  return { ok: true, message: message(req, content, stop, usageFor(turn.usage, req, content), turn.message_id) };
}

/** A one-text-block reply with an estimated usage (end-of-scenario notices, structured-output answers). */
export function textReply(text: string, req: MessagesRequest): Message {
  const content: ContentBlock[] = [{ type: 'text', text }];
  return message(req, content, 'end_turn', usageFor(undefined, req, content));
}

function message(
  req: MessagesRequest,
  content: ContentBlock[],
  stop: StopReason,
  usage: Usage,
  id = randomId('msg_'),
): Message {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: req.model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage,
  };
}
