import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Keys whose values never reach a log line, at the top level or up to three objects down (`body.auth.token`,
 * `req.headers.authorization`, `config.env.ANTHROPIC_API_KEY`). Every field that can hold a secret in Berth is
 * here: API and admin keys, the per-session gateway token, vault credential secrets, OTLP export headers, HTTP
 * authorization headers and the Managed Agents `authorization_token`. docs/observability.md lists them.
 */
export const REDACT_KEYS: readonly string[] = [
  // API keys: the admin key, the upstream key, and the headers that carry them.
  'apiKey',
  'api_key',
  'adminKey',
  'anthropicApiKey',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'x-api-key',
  'authorization',
  'proxy-authorization',
  // WebSocket handshakes may carry the admin key as a `berth.key.<key>` subprotocol.
  'sec-websocket-protocol',
  'cookie',
  // The per-session gateway token (its hash is not secret).
  'gateway_token',
  'gatewayToken',
  // Vault credential secrets and the key that seals them.
  'token',
  'access_token',
  'refresh_token',
  'client_secret',
  'secret_value',
  'accessToken',
  'refreshToken',
  'clientSecret',
  'secretValue',
  'vaultMasterKey',
  // Managed Agents resources (github_repository) and OTLP export headers.
  'authorization_token',
  'authorizationToken',
  'otlpHeaders',
  'password',
];

export const REDACT_PATHS = dedupe(deep(REDACT_KEYS));

function dedupe(paths: string[]): string[] {
  return [...new Set(paths)];
}

/** `k`, `*.k`, `*.*.k` and `*.*.*.k` for each key (bracketed when it is not an identifier, like `x-api-key`). */
function deep(keys: readonly string[]): string[] {
  return keys.flatMap((k) => {
    const step = /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `["${k}"]`;
    const top = step.startsWith('.') ? k : step;
    return [top, `*${step}`, `*.*${step}`, `*.*.*${step}`];
  });
}

/** The process logger (JSON to stdout by default, or the given destination). Created once in the composition root. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { svc: 'berthd' } },
    destination ?? process.stdout,
  );
}
