import { newId } from '@berth/protocol';
import type { Logger } from '../logger.js';
import type { EgressObserver } from '../observability/observer.js';
import type { EgressAuditRecord, EgressAuditUpdate, Store } from '../store/store.js';

/** What the proxy reports about one request or tunnel. */
export type EgressEntry = Pick<
  EgressAuditRecord,
  'method' | 'host' | 'port' | 'decision' | 'rule' | 'reason' | 'status'
>;

/**
 * Writes every egress decision to the store and logs it. A failed write is logged, never thrown: the audit must
 * not take the proxy down, and the log line carries the same facts.
 */
export class EgressAudit {
  /** The last write of each open record, so its update lands after its insert. */
  private readonly pending = new Map<string, Promise<unknown>>();
  /** Every write in flight (for `flush`). */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly clock: () => string,
    /** Told about every decision (metrics). */
    private readonly observer?: EgressObserver,
  ) {}

  /** Records a decision now; returns its id for `finish`. */
  record(sessionId: string, e: EgressEntry): string {
    const id = newId('egress');
    const rec: EgressAuditRecord = {
      id,
      session_id: sessionId,
      ...e,
      address: null,
      bytes_up: 0,
      bytes_down: 0,
      duration_ms: null,
      created_at: this.clock(),
    };
    this.observer?.egressDecision(e.decision, e.method === 'CONNECT' ? 'connect' : 'http');
    const level = e.decision === 'denied' ? 'warn' : 'info';
    this.log[level](
      { sessionId, method: e.method, host: e.host, port: e.port, rule: e.rule, reason: e.reason ?? undefined },
      `egress ${e.decision}`,
    );
    // Kept in order per id: `finish` chains on this write.
    this.pending.set(
      id,
      this.track(
        this.store.recordEgress(rec).catch((err: unknown) => this.log.error({ err, id }, 'egress audit write failed')),
      ),
    );
    return id;
  }

  /** Completes a record (byte counts, duration, upstream status or failure). */
  finish(id: string, patch: EgressAuditUpdate): void {
    const before = this.pending.get(id) ?? Promise.resolve();
    this.pending.delete(id);
    void this.track(
      before
        .then(() => this.store.updateEgress(id, patch))
        .catch((err: unknown) => this.log.error({ err, id }, 'egress audit update failed')),
    );
  }

  /** Resolves once every write issued so far has landed (or failed and been logged). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private track(p: Promise<unknown>): Promise<unknown> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }
}
