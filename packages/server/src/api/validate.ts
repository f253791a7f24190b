import type { z } from 'zod';
import { ApiError } from '../errors.js';

/**
 * Parses untrusted input with a zod schema. On failure throws a 400 whose message names every bad field and what
 * was expected, so a client can fix the request without reading docs.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 10).map((i) => {
    const path = i.path.length ? i.path.map(String).join('.') : where;
    return `${path}: ${i.message}`;
  });
  const more = r.error.issues.length > 10 ? ` (and ${r.error.issues.length - 10} more)` : '';
  throw new ApiError('invalid_request', `Invalid request ${where}: ${lines.join('; ')}${more}.`, {
    fields: r.error.issues.slice(0, 10).map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  });
}
