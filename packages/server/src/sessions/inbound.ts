import type { BerthdFrame } from '@berth/protocol';
import type { EventInput } from './event-log.js';
import type { ActionAnswerRef } from './pending-actions.js';

type Text = { type: 'text'; text: string };
type UserContent = Extract<BerthdFrame, { type: 'user_message' }>['content'];

/** A client event as the API accepted it (validated), with its new event id. */
export type InboundEvent = EventInput &
  (
    | { type: 'user.message'; content: UserContent }
    | { type: 'system.message'; content: Text[] }
    | { type: 'user.interrupt' }
    | { type: 'user.tool_confirmation'; tool_use_id: string; result: 'allow' | 'deny'; deny_message?: string | null }
    | { type: 'user.custom_tool_result'; custom_tool_use_id: string; content?: Text[]; is_error?: boolean }
  );

/** The answers to waiting tool calls in a batch of client events. */
export function answersIn(events: InboundEvent[]): ActionAnswerRef[] {
  return events.flatMap((e): ActionAnswerRef[] => {
    if (e.type === 'user.tool_confirmation') return [{ eventId: e.tool_use_id, kind: 'confirm', field: 'tool_use_id' }];
    if (e.type === 'user.custom_tool_result')
      return [{ eventId: e.custom_tool_use_id, kind: 'custom', field: 'custom_tool_use_id' }];
    return [];
  });
}

/** The control frame that hands a persisted client event to the session's runner. */
export function frameFor(sessionId: string, e: InboundEvent): BerthdFrame {
  switch (e.type) {
    case 'user.message':
      return { type: 'user_message', session_id: sessionId, event_id: e.id, content: e.content };
    case 'system.message':
      // The SDK has no mid-conversation system role: the agent gets the text as a turn of its own, marked as coming
      // from the application rather than the user.
      return {
        type: 'user_message',
        session_id: sessionId,
        event_id: e.id,
        content: e.content.map((b) => ({ type: 'text', text: `<system-message>\n${b.text}\n</system-message>` })),
      };
    case 'user.interrupt':
      return { type: 'interrupt', session_id: sessionId };
    case 'user.tool_confirmation':
      return {
        type: 'tool_confirmation',
        session_id: sessionId,
        tool_use_id: e.tool_use_id,
        result: e.result,
        deny_message: e.deny_message ?? null,
      };
    case 'user.custom_tool_result':
      return {
        type: 'custom_tool_result',
        session_id: sessionId,
        custom_tool_use_id: e.custom_tool_use_id,
        content: e.content ?? [],
        is_error: e.is_error === true,
      };
  }
}

/** The events as the runner gets them: user messages' `file` sources resolved into bytes by `resolve`. */
export async function withFileBytes(
  events: InboundEvent[],
  resolve: (<T>(content: T[]) => Promise<T[]>) | undefined,
): Promise<InboundEvent[]> {
  if (!resolve) return events;
  return Promise.all(
    events.map(async (e): Promise<InboundEvent> => {
      if (e.type !== 'user.message') return e;
      const content = await resolve(e.content);
      return { ...e, content } as InboundEvent;
    }),
  );
}
