import type { SessionErrorType } from '@berth/protocol';

/** The CLI's `SDKAssistantMessageError` kinds, for when no HTTP status is known (e.g. a connection error). */
const ERROR_KIND: Record<string, SessionErrorType> = {
  overloaded: 'model_overloaded_error',
  rate_limit: 'model_rate_limited_error',
  billing_error: 'billing_error',
  authentication_failed: 'model_request_failed_error',
  invalid_request: 'model_request_failed_error',
  model_not_found: 'model_request_failed_error',
  server_error: 'model_request_failed_error',
  max_output_tokens: 'model_request_failed_error',
};

/**
 * How the CLI reports a failed model request (measured with CLI 2.1.332): after its retries
 * (`CLAUDE_CODE_MAX_RETRIES`, one `system/api_retry` message per retry) it yields a synthetic assistant message
 * (`message.model === '<synthetic>'`, `error: <kind>`, text "API Error: …"), then a result with
 * `subtype: 'success'`, `is_error: true`, `terminal_reason: 'api_error'` and `api_error_status` (the HTTP status).
 * The `error` kind is coarse (a 529 reports `server_error`), so the HTTP status decides first.
 */
export function classifyModelError(
  status: number | null | undefined,
  kind: string | null | undefined,
): SessionErrorType {
  if (status === 529) return 'model_overloaded_error';
  if (status === 429) return 'model_rate_limited_error';
  if (status === 402) return 'billing_error';
  if (typeof status === 'number' && status >= 400) return 'model_request_failed_error';
  return (kind && ERROR_KIND[kind]) || 'unknown_error';
}

const ADVICE: Record<string, string> = {
  model_overloaded_error: 'The model is overloaded; send the message again later.',
  model_rate_limited_error: 'The model gateway is rate limiting this session; wait, then send the message again.',
  billing_error: 'The model provider refused the request for billing reasons; check the account behind the gateway.',
  model_request_failed_error:
    'Check the model id and the gateway configuration in berthd, then send the message again.',
  unknown_error: 'Send another message to retry; if it keeps failing, check the runner logs.',
};

/** A `session.error` message: what failed, in the CLI's words, and what to do next. */
export function modelErrorMessage(type: SessionErrorType, status: number | null | undefined, detail: string): string {
  const what = status ? `The model request failed with HTTP ${status} after retries` : 'The model request failed';
  const said = detail ? `: ${detail.slice(0, 2000)}` : '';
  return `${what}${said}. ${ADVICE[type] ?? ADVICE['unknown_error']!}`;
}

/** The `session.error` message for a turn stopped by the `maxTurns` limit. */
export function maxTurnsMessage(maxTurns: number): string {
  return (
    `The agent reached its limit of ${maxTurns} model turns (max_turns) before finishing this task. ` +
    "Send another message to let it continue, or raise the agent's max_turns."
  );
}
