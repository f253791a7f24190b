/**
 * Errors a sandbox driver throws. The session layer maps `code` onto the API error registry (`errors.ts`), so
 * drivers stay independent of HTTP: `unsupported_resource` and `invalid_spec` are the caller's fault (400),
 * `host_unavailable` means this host cannot run sandboxes right now (503), `conflict` a duplicate id.
 */
export type SandboxErrorCode = 'unsupported_resource' | 'invalid_spec' | 'host_unavailable' | 'conflict';

/** A driver refusal or failure whose message says what to do next. */
export class SandboxDriverError extends Error {
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SandboxDriverError';
  }
}
