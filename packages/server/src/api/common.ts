import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { RangeFilter } from '../store/store.js';

/** Shared request pieces: metadata, list queries, timestamps. */

const metaKey = z.string().min(1).max(64);
const metaValue = z.string().max(512);

/** Metadata on create: at most 16 pairs, keys ≤ 64 chars, values ≤ 512 chars. */
export const MetadataSchema = z
  .record(metaKey, metaValue)
  .refine((m) => Object.keys(m).length <= 16, 'metadata has at most 16 keys');

/** Metadata patch on update: a null (or, for environments, empty) value deletes the key. */
export const MetadataPatchSchema = z.record(metaKey, metaValue.nullable());

/** Applies a metadata patch and checks the 16-key limit on the result. */
export function patchMetadata(
  current: Record<string, string>,
  patch: Record<string, string | null> | undefined,
  emptyDeletes = false,
): Record<string, string> {
  if (!patch) return current;
  const next = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || (emptyDeletes && v === '')) delete next[k];
    else next[k] = v;
  }
  if (Object.keys(next).length > 16) {
    throw new ApiError('invalid_metadata', 'metadata can hold at most 16 keys; delete some with a null value first.');
  }
  return next;
}

const limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const timestamp = z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString());

/** `created_at[gte]=…` style range filters, as the SDK encodes them. */
export const rangeQuery = (prefix: string) => ({
  [`${prefix}[gt]`]: timestamp.optional(),
  [`${prefix}[gte]`]: timestamp.optional(),
  [`${prefix}[lt]`]: timestamp.optional(),
  [`${prefix}[lte]`]: timestamp.optional(),
});

export function rangeFrom(q: Record<string, unknown>, prefix: string): RangeFilter {
  return {
    gt: q[`${prefix}[gt]`] as string | undefined,
    gte: q[`${prefix}[gte]`] as string | undefined,
    lt: q[`${prefix}[lt]`] as string | undefined,
    lte: q[`${prefix}[lte]`] as string | undefined,
  };
}

export const ListQuerySchema = z.object({
  limit: limit(1000, 20),
  page: z.string().max(2048).optional(),
  include_archived: bool.optional(),
  ...rangeQuery('created_at'),
});

export { limit, bool, timestamp };

/** The clock used for every timestamp the API writes: ISO-8601 with milliseconds, UTC. */
export type Clock = () => string;
export const systemClock: Clock = () => new Date().toISOString();

/** Ensures a path id has the expected prefix; anything else is a 404 without touching the store. */
export function checkId(kind: string, prefix: string, id: string): void {
  if (!id.startsWith(prefix) || id.length > 128) {
    throw new ApiError(
      'not_found',
      `No ${kind} with id '${id.slice(0, 128)}' exists. ${kind} ids start with '${prefix}'.`,
    );
  }
}
