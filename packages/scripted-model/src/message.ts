/** The Messages API response shapes the scripted model produces (a subset of the real API's). */

/** Usage as the API reports it; the scripted model always fills all four counts. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** A content block of a reply. */
export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'thinking'; thinking: string; signature: string };

/** Why the model stopped. */
export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';

/** A complete (non-streamed) Message. */
export interface Message {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason;
  stop_sequence: null;
  usage: Usage;
}

/** The Anthropic error body: `{"type":"error","error":{"type","message"},"request_id"}`. */
export interface ErrorBody {
  type: 'error';
  error: { type: string; message: string };
  request_id: string;
}

/** Builds an error body. */
export function errorBody(type: string, message: string, requestId: string): ErrorBody {
  return { type: 'error', error: { type, message }, request_id: requestId };
}
