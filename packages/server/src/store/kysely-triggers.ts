import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, TriggerRunsTable, TriggersTable } from './schema.js';
import {
  DuplicateDeliveryError,
  type TriggerListOptions,
  type TriggerRecord,
  type TriggerRunListOptions,
  type TriggerRunRecord,
} from './trigger-types.js';
import type { Page } from './types.js';
import { keysetPage, mapPage, ordPage } from './query.js';
import { isUniqueViolation } from './kysely-vaults.js';

/** The triggers half of KyselyStore (same code for SQLite and PostgreSQL); KyselyStore delegates here. */
export class KyselyTriggers {
  constructor(private readonly db: Kysely<Database>) {}

  async createTrigger(t: TriggerRecord): Promise<void> {
    await this.db.insertInto('triggers').values(toRow(t)).execute();
  }

  async getTrigger(id: string): Promise<TriggerRecord | undefined> {
    const r = await this.db.selectFrom('triggers').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async listTriggers(opts: TriggerListOptions): Promise<Page<TriggerRecord>> {
    let q = this.db.selectFrom('triggers').selectAll();
    if (opts.sessionId !== undefined) q = q.where('session_id', '=', opts.sessionId);
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    return mapPage(await keysetPage(q, 'triggers', 'desc', opts), fromRow);
  }

  async putTrigger(t: TriggerRecord): Promise<void> {
    // Ownership never changes after creation: a put cannot move a trigger to another tenant.
    const { id, tenant_id: _owner, ...rest } = toRow(t);
    await this.db.updateTable('triggers').set(rest).where('id', '=', id).execute();
  }

  async deleteTrigger(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('trigger_runs').where('trigger_id', '=', id).execute();
      const r = await tx.deleteFrom('triggers').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async nextTriggerRunAt(): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('triggers')
      .select((eb) => eb.fn.min('next_run_at').as('next'))
      .where('enabled', '=', 1)
      .where('next_run_at', 'is not', null)
      .executeTakeFirst();
    return r?.next ?? undefined;
  }

  async dueTriggers(now: string): Promise<TriggerRecord[]> {
    const rows = await this.db
      .selectFrom('triggers')
      .selectAll()
      .where('enabled', '=', 1)
      .where('next_run_at', '<=', now)
      .orderBy('next_run_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map(fromRow);
  }

  async advanceTrigger(
    id: string,
    expectedNextRunAt: string,
    patch: { next_run_at: string | null; last_run_at: string },
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('triggers')
      .set(patch)
      .where('id', '=', id)
      .where('enabled', '=', 1)
      .where('next_run_at', '=', expectedNextRunAt)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async recordTriggerRun(run: TriggerRunRecord, keep: number): Promise<void> {
    try {
      await this.db.transaction().execute(async (tx) => {
        await tx.insertInto('trigger_runs').values(run).execute();
        // Keeps the newest `keep` runs: the log is bounded even for an every-second schedule that keeps failing.
        const cutoff = await tx
          .selectFrom('trigger_runs')
          .select('ord')
          .where('trigger_id', '=', run.trigger_id)
          .orderBy('ord', 'desc')
          .offset(keep)
          .limit(1)
          .executeTakeFirst();
        if (cutoff) {
          await tx
            .deleteFrom('trigger_runs')
            .where('trigger_id', '=', run.trigger_id)
            .where('ord', '<=', cutoff.ord)
            .execute();
        }
      });
    } catch (err) {
      if (isUniqueViolation(err) && run.delivery_id !== null) throw new DuplicateDeliveryError(run.delivery_id);
      throw err;
    }
  }

  async finishTriggerRun(id: string, patch: Pick<TriggerRunRecord, 'outcome' | 'reason' | 'event_id'>): Promise<void> {
    await this.db.updateTable('trigger_runs').set(patch).where('id', '=', id).execute();
  }

  async listTriggerRuns(triggerId: string, opts: TriggerRunListOptions): Promise<Page<TriggerRunRecord>> {
    const q = this.db.selectFrom('trigger_runs').selectAll().where('trigger_id', '=', triggerId);
    return ordPage(q, 'desc', opts, runFromRow);
  }
}

function toRow(t: TriggerRecord): Insertable<TriggersTable> {
  const { secret, metadata, enabled, ...rest } = t;
  return {
    ...rest,
    enabled: enabled ? 1 : 0,
    metadata: JSON.stringify(metadata),
    secret_key_id: secret?.key_id ?? null,
    secret_nonce: secret?.nonce ?? null,
    secret_ciphertext: secret?.ciphertext ?? null,
    secret_tag: secret?.tag ?? null,
  };
}

function fromRow(r: Selectable<TriggersTable>): TriggerRecord {
  const { secret_key_id, secret_nonce, secret_ciphertext, secret_tag, enabled, metadata, kind, ...rest } = r;
  return {
    ...rest,
    kind: kind as TriggerRecord['kind'],
    enabled: enabled === 1,
    metadata: JSON.parse(metadata) as Record<string, string>,
    secret:
      secret_key_id && secret_nonce && secret_ciphertext && secret_tag
        ? { key_id: secret_key_id, nonce: secret_nonce, ciphertext: secret_ciphertext, tag: secret_tag }
        : null,
  };
}

function runFromRow(r: Selectable<TriggerRunsTable>): TriggerRunRecord {
  const { ord: _ord, source, outcome, ...rest } = r;
  return {
    ...rest,
    source: source as TriggerRunRecord['source'],
    outcome: outcome as TriggerRunRecord['outcome'],
  };
}
