import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * A random id with the given prefix, shaped like the API's (`toolu_01…`, `msg_01…`, `req_01…`).
 * Message ids must differ between replies: the CLI reassembles streamed blocks by message id, so two replies
 * sharing an id get merged into one assistant message (and their tool calls de-duplicated).
 */
export function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = '01';
  for (let i = 2; i < length; i++) out += BASE62[bytes[i]! % 62];
  return prefix + out;
}
