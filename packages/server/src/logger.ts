import { pino, type Logger } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear. */
export const REDACT_PATHS = dedupe([
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.apiKey',
  '*.adminKey',
  '*.anthropicApiKey',
  '*.gateway_token',
  '*.token',
  'apiKey',
  'adminKey',
  'anthropicApiKey',
  'gateway_token',
  'token',
  ...deep([
    'token',
    'access_token',
    'refresh_token',
    'client_secret',
    'secret_value',
    'authorization_token',
    'accessToken',
    'refreshToken',
    'clientSecret',
    'vaultMasterKey',
  ]),
]);

function dedupe(paths: string[]): string[] {
  return [...new Set(paths)];
}

/** `k`, `*.k`, `*.*.k` and `*.*.*.k` for each key: vault secrets can sit a few levels down (`body.auth.token`). */
function deep(keys: string[]): string[] {
  return keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);
}

/** The process logger (JSON to stdout by default, or the given destination). Created once in the composition root. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { svc: 'berthd' } },
    destination ?? process.stdout,
  );
}
