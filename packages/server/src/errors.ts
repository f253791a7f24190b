/**
 * The one registry of API error codes. Each code has its HTTP status and Anthropic error `type`; every error on the
 * wire has the shape `{type:'error', error:{type, message, details:{error_code}}, request_id}`.
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  environment_archived: { status: 400, type: 'invalid_request_error' },
  agent_archived: { status: 400, type: 'invalid_request_error' },
  session_archived: { status: 400, type: 'invalid_request_error' },
  session_terminated: { status: 400, type: 'invalid_request_error' },
  invalid_config_type_change: { status: 400, type: 'invalid_request_error' },
  invalid_metadata: { status: 400, type: 'invalid_request_error' },
  vault_archived: { status: 400, type: 'invalid_request_error' },
  vault_credential_archived: { status: 400, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  permission_denied: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'not_found_error' },
  version_conflict: { status: 409, type: 'conflict_error' },
  environment_in_use: { status: 409, type: 'conflict_error' },
  session_busy: { status: 409, type: 'conflict_error' },
  session_not_hibernatable: { status: 409, type: 'conflict_error' },
  vault_credential_conflict: { status: 409, type: 'conflict_error' },
  vault_credential_unusable: { status: 409, type: 'conflict_error' },
  trigger_disabled: { status: 409, type: 'conflict_error' },
  trigger_fire_failed: { status: 409, type: 'conflict_error' },
  invalid_schedule: { status: 400, type: 'invalid_request_error' },
  webhook_unauthorized: { status: 401, type: 'authentication_error' },
  trigger_rate_limited: { status: 429, type: 'rate_limit_error' },
  webhook_target_forbidden: { status: 400, type: 'invalid_request_error' },
  webhook_delivery_in_flight: { status: 409, type: 'conflict_error' },
  unsupported_feature: { status: 400, type: 'invalid_request_error' },
  too_many_sessions: { status: 429, type: 'rate_limit_error' },
  tenant_budget_exhausted: { status: 402, type: 'billing_error' },
  storage_unavailable: { status: 503, type: 'api_error' },
  request_too_large: { status: 413, type: 'request_too_large' },
  file_too_large: { status: 413, type: 'request_too_large' },
  unsafe_path: { status: 400, type: 'invalid_request_error' },
  invalid_mount_path: { status: 400, type: 'invalid_request_error' },
  workspace_unavailable: { status: 409, type: 'conflict_error' },
  workspace_full: { status: 413, type: 'request_too_large' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  preview_unavailable: { status: 409, type: 'conflict_error' },
  port_not_listening: { status: 409, type: 'conflict_error' },
  preview_forbidden: { status: 403, type: 'permission_error' },
  too_many_tunnels: { status: 429, type: 'rate_limit_error' },
  preview_upstream_failed: { status: 502, type: 'api_error' },
  not_ready: { status: 503, type: 'api_error' },
  internal: { status: 500, type: 'api_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a registered code; the API error handler renders it in the Anthropic shape. */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Whether SDK clients should retry (sent as `x-should-retry`). */
    readonly shouldRetry?: boolean,
    /** Seconds a client should wait before retrying (sent as `retry-after`). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.status = ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
  }
}

/** The wire body of an error. */
export function errorBody(err: ApiError, requestId: string | null): object {
  return {
    type: 'error',
    error: { type: err.type, message: err.message, details: { error_code: err.code, ...err.details } },
    request_id: requestId,
  };
}

/** 404 with the wording every resource uses. */
export function notFound(kind: string, id: string): ApiError {
  return new ApiError('not_found', `No ${kind} with id '${id}' exists. Check the id, or list ${kind}s to find it.`);
}
