import type { Kysely } from 'kysely';
import { ordPage } from './query.js';
import type { Database, EgressAuditTable } from './schema.js';
import type { EgressAuditRecord, EgressAuditUpdate, EgressListOptions, Page } from './types.js';

/** The egress audit's queries, kept apart from kysely-store.ts (which delegates here). */

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
  return ordPage(q, 'asc', opts, (r) => fromRow(r as EgressAuditTable & { ord: number }));
}
