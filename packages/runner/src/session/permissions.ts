import type { HookCallbackMatcher, HookJSONOutput, PreToolUseHookInput } from '@anthropic-ai/claude-agent-sdk';
import { CUSTOM_TOOL_SERVER, type SessionRunConfig } from '@berth/protocol';
import type { ActionAnswer } from './actions.js';

/** Hooks wait as long as a turn may run: the turn's wall-clock limit (berthd) bounds a confirmation, not the CLI. */
const HOOK_TIMEOUT_S = 7 * 24 * 3600;

/** The Managed Agents permission of a Claude Code tool under `config`: a tool's own entry beats its server's. */
export function permissionFor(config: SessionRunConfig, toolName: string): 'allow' | 'ask' {
  if (toolName.startsWith(`mcp__${CUSTOM_TOOL_SERVER}__`)) return 'allow';
  if (config.allow_tools.includes(toolName)) return 'allow';
  if (config.ask_tools.includes(toolName)) return 'ask';
  // A server-wide entry (`mcp__<server>`) covers every tool of that server.
  return config.ask_tools.some((t) => t.startsWith('mcp__') && toolName.startsWith(`${t}__`)) ? 'ask' : 'allow';
}

/** Whether `host` is `domain` or one of its subdomains (case-insensitive; a leading `*.` or `.` is ignored). */
export function hostMatches(host: string, domain: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const d = domain
    .toLowerCase()
    .replace(/^\*?\./, '')
    .replace(/\.$/, '');
  return h === d || h.endsWith(`.${d}`);
}

type Decision = { deny: string } | { input: Record<string, unknown> } | null;

/** Applies the web tools' domain lists: WebFetch is refused outside them; WebSearch gets them as its own filters. */
export function webDomainDecision(
  config: SessionRunConfig,
  toolName: string,
  input: Record<string, unknown>,
): Decision {
  if (toolName !== 'WebFetch' && toolName !== 'WebSearch') return null;
  const lists = config.web_domains[toolName];
  if (!lists) return null;
  const managed = toolName === 'WebFetch' ? 'web_fetch' : 'web_search';
  if (toolName === 'WebSearch') {
    const out = { ...input };
    if (lists.allowed) {
      const asked = Array.isArray(input.allowed_domains) ? (input.allowed_domains as string[]) : null;
      const allowed = asked ? asked.filter((a) => lists.allowed!.some((d) => hostMatches(a, d))) : lists.allowed;
      if (allowed.length === 0) {
        return { deny: `${managed} may only search ${lists.allowed.join(', ')} (the agent's allowed_domains).` };
      }
      out.allowed_domains = allowed;
    }
    if (lists.blocked) {
      const asked = Array.isArray(input.blocked_domains) ? (input.blocked_domains as string[]) : [];
      out.blocked_domains = [...new Set([...asked, ...lists.blocked])];
    }
    return { input: out };
  }
  let host: string;
  try {
    host = new URL(String(input.url)).hostname;
  } catch {
    return { deny: `${managed} needs an absolute http(s) URL.` };
  }
  if (lists.blocked?.some((d) => hostMatches(host, d))) {
    return { deny: `${managed} to ${host} is blocked by the agent's blocked_domains.` };
  }
  if (lists.allowed && !lists.allowed.some((d) => hostMatches(host, d))) {
    return {
      deny: `${managed} to ${host} is not allowed: the agent's allowed_domains are ${lists.allowed.join(', ')}.`,
    };
  }
  return null;
}

function deny(reason: string): HookJSONOutput {
  return {
    hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: reason },
  };
}

/** What the PreToolUse hook needs from the session. */
export interface PermissionHookDeps {
  config: SessionRunConfig;
  /** Waits for the client's confirmation of the call `tooluId`. */
  confirm: (tooluId: string, signal: AbortSignal) => Promise<ActionAnswer>;
}

/**
 * The PreToolUse hook that enforces the agent's tool policy. The CLI runs with `bypassPermissions`, so nothing else
 * asks: `always_ask` calls wait here for `user.tool_confirmation` (allow → the call runs; deny → the model gets the
 * denial as the tool's error result), and the web tools' domain lists are applied here.
 */
export function permissionHooks(deps: PermissionHookDeps): HookCallbackMatcher[] {
  return [
    {
      timeout: HOOK_TIMEOUT_S,
      hooks: [
        async (raw, _toolUseId, { signal }) => {
          const input = raw as PreToolUseHookInput;
          if (input.hook_event_name !== 'PreToolUse') return {};
          const toolInput = (
            typeof input.tool_input === 'object' && input.tool_input !== null ? input.tool_input : {}
          ) as Record<string, unknown>;
          const web = webDomainDecision(deps.config, input.tool_name, toolInput);
          if (web && 'deny' in web) return deny(web.deny);
          if (permissionFor(deps.config, input.tool_name) === 'ask') {
            // A subagent's calls are not events (they surface through its Task result), so nobody could answer one.
            if ((input as { agent_id?: string }).agent_id) {
              return deny(
                `${input.tool_name} needs the user's confirmation, which a subagent cannot ask for. Call it directly.`,
              );
            }
            const answer = await deps.confirm(input.tool_use_id, signal);
            if (answer.kind === 'cancelled') return deny(`The call was not confirmed: ${answer.reason}.`);
            if (answer.kind === 'confirm' && answer.result === 'deny') {
              return deny(answer.message ?? 'The user denied this tool call.');
            }
          }
          if (web && 'input' in web) {
            return {
              hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'allow', updatedInput: web.input },
            };
          }
          return {};
        },
      ],
    },
  ];
}
