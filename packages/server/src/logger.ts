import { pino, type Logger } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear. */
export const REDACT_PATHS = [
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
];

/** The process logger (JSON to stdout by default, or the given destination). Created once in the composition root. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { svc: 'berthd' } },
    destination ?? process.stdout,
  );
}
