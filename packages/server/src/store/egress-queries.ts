import type { Kysely } from 'kysely';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { Database, EgressAuditTable } from './schema.js';
import type { EgressAuditRecord, EgressAuditUpdate, EgressListOptions, Page } from './types.js';

/** The egress audit's queries, kept apart from kysely-store.ts (which delegates here). */

function isOrdCursor(v: unknown): v is { o: number } {
  return typeof v === 'object' && v !== null && Number.isInteger((v as { o?: unknown }).o);
}

function fromRow(r: EgressAuditTable & { ord: number }): EgressAuditRecord {
  return {
    id: r.id,
    session_id: r.session_id,
    method: r.method,
    host: r.host,
    port: Number(r.port),
    decision: r.decision as EgressAuditRecord['decision'],
    rule: r.rule,
    reason: r.reason,
    address: r.address,
    status: r.status === null ? null : Number(r.status),
    bytes_up: Number(r.bytes_up),
    bytes_down: Number(r.bytes_down),
    duration_ms: r.duration_ms === null ? null : Number(r.duration_ms),
    created_at: r.created_at,
  };
}

export async function recordEgress(db: Kysely<Database>, rec: EgressAuditRecord): Promise<void> {
  await db.insertInto('egress_audit').values(rec).execute();
}

export async function updateEgress(db: Kysely<Database>, id: string, patch: EgressAuditUpdate): Promise<void> {
  if (Object.keys(patch).length === 0) return;
  await db.updateTable('egress_audit').set(patch).where('id', '=', id).execute();
}

export async function listEgress(
  db: Kysely<Database>,
  sessionId: string,
  opts: EgressListOptions,
): Promise<Page<EgressAuditRecord>> {
  let q = db.selectFrom('egress_audit').selectAll().where('session_id', '=', sessionId);
  if (opts.decision) q = q.where('decision', '=', opts.decision);
  if (opts.page) q = q.where('ord', '>', decodeCursor(opts.page, isOrdCursor).o);
  const rows = await q
    .orderBy('ord', 'asc')
    .limit(opts.limit + 1)
    .execute();
  const more = rows.length > opts.limit;
  const page = rows.slice(0, opts.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((r) => fromRow(r as EgressAuditTable & { ord: number })),
    next: more && last ? encodeCursor({ o: Number(last.ord) }) : null,
    prev: null,
  };
}
