import { BadCursorError } from './types.js';

/** Opaque, URL-safe page cursors. They carry a keyset position, never an offset. */
export function encodeCursor(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes a cursor and checks its shape with `guard`; throws BadCursorError otherwise. */
export function decodeCursor<T>(cursor: string, guard: (v: unknown) => v is T): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadCursorError('malformed page cursor');
  }
  if (!guard(parsed)) throw new BadCursorError('malformed page cursor');
  return parsed;
}

/** Keyset position over (created_at, id) plus direction: 'n' = next page, 'p' = previous page. */
export interface KeyCursor {
  c: string;
  i: string;
  d: 'n' | 'p';
}

export function isKeyCursor(v: unknown): v is KeyCursor {
  const o = v as KeyCursor;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof o.c === 'string' &&
    typeof o.i === 'string' &&
    (o.d === 'n' || o.d === 'p')
  );
}

export interface SeqCursor {
  s: number;
}

export function isSeqCursor(v: unknown): v is SeqCursor {
  const s = (v as SeqCursor | null)?.s;
  return typeof v === 'object' && v !== null && Number.isInteger(s) && s! >= 0 && s! <= 2_147_483_647;
}

/** Position in a log listed in insertion order: the last row's `ord`. */
export function isOrdCursor(v: unknown): v is { o: number } {
  return typeof v === 'object' && v !== null && Number.isInteger((v as { o?: unknown }).o);
}
