import type { SelectQueryBuilder } from 'kysely';
import { decodeCursor, encodeCursor, isKeyCursor, isOrdCursor, type KeyCursor } from './cursor.js';
import type { Page, RangeFilter } from './types.js';

/** Query helpers shared by the Kysely store modules. */

type KeyedTable =
  | 'agents'
  | 'environments'
  | 'sessions'
  | 'vaults'
  | 'vault_credentials'
  | 'files'
  | 'webhook_endpoints'
  | 'triggers'
  | 'tenants'
  | 'api_keys';

// The helpers below are generic over the selected table; Kysely's column typing cannot follow a dynamic column
// name, so they take a narrowed builder type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnySelect<O> = SelectQueryBuilder<any, any, O>;

/** Adds `created_at[gt…]`-style bounds on `column`. */
export function rangeWhere<Q>(query: Q, column: string, r: RangeFilter | undefined): Q {
  if (!r) return query;
  let q = query as AnySelect<unknown>;
  if (r.gt !== undefined) q = q.where(column, '>', r.gt);
  if (r.gte !== undefined) q = q.where(column, '>=', r.gte);
  if (r.lt !== undefined) q = q.where(column, '<', r.lt);
  if (r.lte !== undefined) q = q.where(column, '<=', r.lte);
  return q as Q;
}

interface Keyed {
  created_at: string;
  id: string;
}

/**
 * One page of a (created_at, id) keyset listing in `order`, with cursors both ways. A 'p' cursor walks backwards:
 * it queries the opposite order from the cursor and reverses the rows.
 */
export async function keysetPage<O extends Keyed>(
  q: AnySelect<O>,
  table: KeyedTable,
  order: 'asc' | 'desc',
  opts: { limit: number; page?: string | undefined },
): Promise<Page<O>> {
  const cur: KeyCursor | undefined = opts.page ? decodeCursor(opts.page, isKeyCursor) : undefined;
  const backwards = cur?.d === 'p';
  const walk: 'asc' | 'desc' = backwards ? (order === 'asc' ? 'desc' : 'asc') : order;
  const cmp = walk === 'asc' ? '>' : '<';
  if (cur) {
    q = q.where((eb) =>
      eb.or([
        eb(`${table}.created_at`, cmp, cur.c),
        eb.and([eb(`${table}.created_at`, '=', cur.c), eb(`${table}.id`, cmp, cur.i)]),
      ]),
    );
  }
  const rows = (await q
    .orderBy(`${table}.created_at`, walk)
    .orderBy(`${table}.id`, walk)
    .limit(opts.limit + 1)
    .execute()) as O[];
  const more = rows.length > opts.limit;
  const data = rows.slice(0, opts.limit);
  if (backwards) data.reverse();
  const first = data[0];
  const last = data[data.length - 1];
  const key = (r: O, d: 'n' | 'p') => encodeCursor({ c: r.created_at, i: r.id, d });
  // Going forwards, there is a previous page whenever we started from a cursor; going backwards, a next page.
  const hasNext = backwards ? cur !== undefined : more;
  const hasPrev = backwards ? more : cur !== undefined;
  return {
    data,
    next: hasNext && last ? key(last, 'n') : null,
    prev: hasPrev && first ? key(first, 'p') : null,
  };
}

/** Maps the rows of a page, keeping its cursors. */
export function mapPage<A, B>(p: Page<A>, f: (a: A) => B): Page<B> {
  return { data: p.data.map(f), next: p.next, prev: p.prev };
}

/**
 * One page of a listing in insertion order (the table's `ord` column: logs such as the audit log, deliveries,
 * trigger runs and egress decisions), newest first with `desc`. Forward cursors only (`prev` is always null).
 */
export async function ordPage<R extends { ord: number | string }, T>(
  q: AnySelect<R>,
  order: 'asc' | 'desc',
  opts: { limit: number; page?: string | undefined },
  map: (row: R) => T,
): Promise<Page<T>> {
  if (opts.page) q = q.where('ord', order === 'desc' ? '<' : '>', decodeCursor(opts.page, isOrdCursor).o);
  const rows = (await q
    .orderBy('ord', order)
    .limit(opts.limit + 1)
    .execute()) as R[];
  const page = rows.slice(0, opts.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(map),
    next: rows.length > opts.limit && last ? encodeCursor({ o: Number(last.ord) }) : null,
    prev: null,
  };
}
