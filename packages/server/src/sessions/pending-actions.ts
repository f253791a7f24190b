import { ApiError } from '../errors.js';
import type { JsonObject } from '../store/store.js';

type Kind = 'confirm' | 'custom';

/** What answers each kind, for the error messages. */
const ANSWER: Record<Kind, string> = {
  confirm: "user.tool_confirmation (tool_use_id, result: 'allow'|'deny')",
  custom: 'user.custom_tool_result (custom_tool_use_id, content)',
};

/** An answer the client sent: which call it answers and with what kind of event. */
export interface ActionAnswerRef {
  eventId: string;
  kind: Kind;
  /** The field that named the call, for the error message. */
  field: 'tool_use_id' | 'custom_tool_use_id';
}

/**
 * The tool calls of each session that wait for the client, learned from the events the runner emits: ask-gated
 * `agent.tool_use` / `agent.mcp_tool_use` calls and `agent.custom_tool_use` calls. An answer to anything else is
 * refused with a 400 that lists what is pending, so a client bug is caught at the API and never reaches the agent.
 */
export class PendingActions {
  private readonly bySession = new Map<string, Map<string, Kind>>();

  /** Follows one persisted event. */
  observe(sessionId: string, event: JsonObject & { id: string; type: string }): void {
    const t = event.type;
    if ((t === 'agent.tool_use' || t === 'agent.mcp_tool_use') && event.evaluated_permission === 'ask') {
      this.of(sessionId).set(event.id, 'confirm');
    } else if (t === 'agent.custom_tool_use') {
      this.of(sessionId).set(event.id, 'custom');
    } else if (t === 'session.status_idle') {
      // Any stop but requires_action ends the turn, and with it everything it waited for.
      const stop = event.stop_reason as { type?: string } | undefined;
      if (stop?.type !== 'requires_action') this.bySession.delete(sessionId);
    } else if (t === 'session.status_terminated') {
      this.bySession.delete(sessionId);
    }
  }

  /** Refuses a batch whose answers name calls that do not wait (or wait for the other kind of answer). */
  check(sessionId: string, answers: ActionAnswerRef[]): void {
    const pending = this.bySession.get(sessionId) ?? new Map<string, Kind>();
    const seen = new Set<string>();
    for (const a of answers) {
      const kind = pending.get(a.eventId);
      const list = [...pending].map(([id, k]) => `${id} (${k === 'confirm' ? 'confirmation' : 'custom tool'})`);
      const what = list.length ? `Calls waiting now: ${list.join(', ')}.` : 'No call of this session waits now.';
      if (seen.has(a.eventId)) {
        throw new ApiError('invalid_request', `${a.field} '${a.eventId}' is answered twice in this request.`);
      }
      seen.add(a.eventId);
      if (kind === undefined) {
        throw new ApiError(
          'invalid_request',
          `${a.field} '${a.eventId}' does not name a tool call waiting for an answer. ${what}`,
        );
      }
      if (kind !== a.kind) {
        throw new ApiError('invalid_request', `Tool call '${a.eventId}' is answered with ${ANSWER[kind]}. ${what}`);
      }
    }
  }

  /** The answer was persisted and sent to the runner. */
  resolve(sessionId: string, eventId: string): void {
    this.bySession.get(sessionId)?.delete(eventId);
  }

  /** Whether any call of the session waits for the client. */
  has(sessionId: string): boolean {
    return (this.bySession.get(sessionId)?.size ?? 0) > 0;
  }

  forget(sessionId: string): void {
    this.bySession.delete(sessionId);
  }

  private of(sessionId: string): Map<string, Kind> {
    let m = this.bySession.get(sessionId);
    if (!m) {
      m = new Map();
      this.bySession.set(sessionId, m);
    }
    return m;
  }
}
