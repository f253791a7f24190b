import { newId } from '@berth/protocol';
import type { SnapshotStore } from '../blobs/snapshots.js';
import type { SandboxDriver, SandboxInfo } from '../drivers/driver.js';
import type { Logger } from '../logger.js';
import type { SessionRecord, Store } from '../store/store.js';
import type { EventLog } from './event-log.js';
import { completeHibernation } from './hibernate-recovery.js';
import type { SessionService } from './service.js';

/** What start-up reconciliation did. */
export interface Reconciled {
  adopted: number;
  /** Sessions whose sandbox was gone: ended with a session.error. */
  lost: number;
  /** Sandboxes that belonged to no live session: destroyed. */
  removed: number;
  /** Hibernations an earlier berthd began and did not finish: completed (see hibernate-recovery.ts). */
  hibernated: number;
}

/**
 * Start-up reconciliation (DESIGN rule 4: sandboxes outlive berthd). Every live session whose sandbox still runs is
 * re-adopted (its runner reconnects and re-sends what the store has not acknowledged); a session berthd was killed
 * while hibernating is hibernated from what is left (hibernate-recovery.ts); a live session whose sandbox is gone ends with a session.error that says so; every sandbox that belongs to no live session (deleted, ended,
 * hibernated, or never recorded) is destroyed with its mounts and cgroups.
 */
export async function reconcile(
  drivers: ReadonlyMap<string, SandboxDriver>,
  defaultDriver: string,
  store: Store,
  events: EventLog,
  sessions: SessionService,
  logger: Logger,
  /** The hibernation snapshots, to complete a hibernation berthd was killed in the middle of. */
  snapshots?: SnapshotStore,
): Promise<Reconciled> {
  const found = new Map<string, { driver: SandboxDriver; info: SandboxInfo }>();
  for (const driver of drivers.values()) for (const info of await driver.list()) found.set(info.id, { driver, info });
  const out: Reconciled = { adopted: 0, lost: 0, removed: 0, hibernated: 0 };
  const adoptions: Array<Promise<void>> = [];
  for await (const s of liveSessions(store)) {
    if (s.sandbox_state === 'stopped' || s.sandbox_state === 'hibernated') continue;
    const entry = s.sandbox_id ? found.get(s.sandbox_id) : undefined;
    if (s.sandbox_state === 'hibernating' && snapshots !== undefined) {
      if (entry) found.delete(s.sandbox_id!);
      try {
        await completeHibernation(s, entry, snapshots, store, logger);
        out.hibernated++;
      } catch (err) {
        logger.error({ err, sessionId: s.id }, 'could not complete an unfinished hibernation; ending its session');
        if (entry) await entry.driver.destroy(entry.info.id).catch(() => undefined);
        await endLost(store, events, s, `its hibernation could not be completed (${(err as Error).message})`);
        out.lost++;
      }
      continue;
    }
    const driverName = (s.berth.driver as string | undefined) ?? defaultDriver;
    if (entry && entry.info.status === 'running' && entry.driver.name === driverName) {
      found.delete(s.sandbox_id!);
      logger.info({ sessionId: s.id, sandboxId: s.sandbox_id }, 're-adopting a sandbox that outlived berthd');
      const { driver, info } = entry;
      adoptions.push(
        sessions.adopt(s).catch(async (err: unknown) => {
          // E.g. a vault credential that no longer decrypts: the session cannot go on, and nothing may stay behind.
          logger.error({ err, sessionId: s.id }, 'could not re-adopt a sandbox; ending its session');
          await driver.destroy(info.id).catch(() => undefined);
          await endLost(store, events, s, `its sandbox could not be re-adopted (${(err as Error).message})`);
        }),
      );
      out.adopted++;
      continue;
    }
    out.lost++;
    await endLost(
      store,
      events,
      s,
      entry ? 'its sandbox exited while berthd was down' : 'its sandbox is gone from this host',
    );
  }
  await Promise.all(adoptions);
  for (const { driver, info } of found.values()) {
    logger.warn({ sandboxId: info.id, driver: driver.name }, 'removing a sandbox that belongs to no live session');
    await driver.destroy(info.id);
    out.removed++;
  }
  return out;
}

async function* liveSessions(store: Store): AsyncGenerator<SessionRecord> {
  let page: string | undefined;
  do {
    const p = await store.listSessions({
      limit: 200,
      order: 'asc',
      page,
      includeArchived: false,
      statuses: ['running', 'idle', 'rescheduling'],
    });
    yield* p.data;
    page = p.next ?? undefined;
  } while (page);
}

/** Ends a session whose sandbox did not survive, with an error that says what to do (through the event log, so
 * streams and webhooks see it like any other end). */
async function endLost(store: Store, events: EventLog, s: SessionRecord, why: string): Promise<void> {
  const error = {
    type: 'unknown_error',
    message: `berthd restarted and ${why}; the session ended. Create a new session.`,
    retry_status: { type: 'terminal' },
  };
  await events.append(s.id, [
    { id: newId('event'), type: 'session.error', error },
    { id: newId('event'), type: 'session.status_terminated' },
  ]);
  await store.updateSession(s.id, { sandbox_state: 'stopped', status: 'terminated' });
}
