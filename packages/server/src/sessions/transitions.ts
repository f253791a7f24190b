import { newId } from '@berth/protocol';
import type { ArtifactStore } from '../blobs/artifacts.js';
import type { SnapshotStore } from '../blobs/snapshots.js';
import { DiskHandoverRefused } from '../drivers/disk/index.js';
import type { DestroyOptions, SandboxDriver, SandboxInfo } from '../drivers/driver.js';
import { ApiError } from '../errors.js';
import { storedLifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import type { SessionRecord, Store } from '../store/store.js';
import type { EventLog } from './event-log.js';
import type { SessionRuntime } from './runtime.js';

/** What the transitions need of the session service (it owns the live sandboxes). */
export interface TransitionHost {
  runtime(sessionId: string): SessionRuntime | undefined;
  /** A turn runs, a tool call waits for the client, or a message was accepted and its turn has not ended. */
  busy(sessionId: string): boolean;
  driverFor(session: SessionRecord): SandboxDriver;
  /** Forgets the live sandbox (maps, concurrency place) without destroying it; returns it. */
  detach(sessionId: string): SessionRuntime | undefined;
  /** Destroys a detached sandbox (`opts`: the driver's destroy options, e.g. handing its disk over). */
  teardown(sessionId: string, runtime: SessionRuntime, opts?: DestroyOptions): Promise<void>;
  /** Starts a hibernated session's new sandbox from its snapshot. */
  relaunch(session: SessionRecord): Promise<void>;
  fail(sessionId: string, message: string): Promise<void>;
  /** Ends the session normally (status_terminated, sandbox stopped). */
  terminate(sessionId: string): Promise<void>;
  hibernated(sessionId: string): void;
}

/**
 * The lifecycle patterns' transitions: hybrid's hibernate and resume, and ephemeral's end of task. One transition
 * at a time per session: a message, a resume or a second hibernate waits for the one under way.
 */
export class SessionTransitions {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly host: TransitionHost,
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly logger: Logger,
    private readonly snapshots: SnapshotStore | undefined,
    private readonly artifacts: ArtifactStore | undefined,
  ) {}

  /** Resolves once no transition of the session is under way. */
  async settled(sessionId: string): Promise<void> {
    await this.inFlight.get(sessionId)?.catch(() => undefined);
  }

  /**
   * Hibernates an idle session: its agent process ends, its workspace and home (with the transcript) go to the
   * blob store, and its sandbox is destroyed (no process, no memory left). The next message resumes it. 409 while a
   * turn runs or a tool call waits; idempotent on a hibernated session.
   */
  async hibernate(sessionId: string): Promise<void> {
    await this.settled(sessionId);
    // Registered before the first await, so a message arriving from now on waits for this hibernation and then
    // resumes the session, rather than reaching an agent that is stopping.
    await this.run(sessionId, () => this.checkedHibernate(sessionId));
  }

  private async checkedHibernate(sessionId: string): Promise<void> {
    const s = await this.store.getSession(sessionId);
    if (!s || s.sandbox_state === 'hibernated') return;
    const runtime = this.host.runtime(sessionId);
    if (s.archived_at || s.status === 'terminated' || !runtime || !this.snapshots)
      throw new ApiError('session_not_hibernatable', `Session '${sessionId}' has no running sandbox to hibernate.`);
    const driver = this.host.driverFor(s);
    if (!driver.capabilities.snapshot)
      throw new ApiError('unsupported_feature', `The ${driver.name} driver cannot hibernate sandboxes.`);
    if (s.status === 'running' || this.host.busy(sessionId) || s.sandbox_state === 'starting')
      throw new ApiError(
        'session_busy',
        `Session '${sessionId}' is starting, running a turn or waiting for tool answers; it hibernates only when ` +
          'idle. Wait for session.status_idle (or answer or interrupt), then retry.',
      );
    await this.doHibernate(s, runtime, this.snapshots);
  }

  /** Waits for a hibernation in progress, then resumes the session if it is hibernated. */
  async ensureAwake(sessionId: string): Promise<void> {
    await this.settled(sessionId);
    if (this.host.runtime(sessionId)) return;
    const s = await this.store.getSession(sessionId);
    if (s?.sandbox_state !== 'hibernated') return;
    await this.run(sessionId, async () => {
      await this.host.relaunch(s);
      const resumed = await this.store.getSession(sessionId);
      if (resumed) this.events.announce('session.resumed', resumed);
    });
  }

  /**
   * An ephemeral session's task is done (its turn ended and the grace passed): the paths it keeps are saved as
   * artifacts, then the session ends and its sandbox is destroyed.
   */
  async endTask(sessionId: string): Promise<void> {
    const runtime = this.host.runtime(sessionId);
    const s = await this.store.getSession(sessionId);
    if (!runtime || !s) return;
    const keep = storedLifecycle(s.berth.lifecycle).keep;
    if (keep.length > 0 && this.artifacts) {
      const info = await runtime.inspect();
      try {
        if (!info) throw new Error('the sandbox is gone');
        const kept = await this.artifacts.save(sessionId, info.workspaceDir, keep);
        this.logger.info({ sessionId, ...kept }, 'artifacts kept');
      } catch (err) {
        this.logger.error({ err, sessionId }, 'could not keep the artifacts');
        await this.events.append(sessionId, [
          {
            id: newId('event'),
            type: 'session.error',
            error: {
              type: 'unknown_error',
              message: `The artifacts berth.lifecycle.keep names could not be saved: ${(err as Error).message}.`,
              retry_status: { type: 'terminal' },
            },
          },
        ]);
      }
    }
    this.logger.info({ sessionId }, 'ephemeral task done; ending the session');
    await this.host.terminate(sessionId);
  }

  private async run(sessionId: string, fn: () => Promise<void>): Promise<void> {
    const done = fn();
    this.inFlight.set(sessionId, done);
    try {
      await done;
    } finally {
      if (this.inFlight.get(sessionId) === done) this.inFlight.delete(sessionId);
    }
  }

  private async doHibernate(s: SessionRecord, runtime: SessionRuntime, snapshots: SnapshotStore): Promise<void> {
    const t0 = performance.now();
    await this.store.updateSession(s.id, { sandbox_state: 'hibernating' });
    await runtime.quiesce();
    const quiesceMs = Math.round(performance.now() - t0);
    const info = await runtime.inspect();
    // With a disk image the driver can hand over, the destroy below moves the whole disk into the blob store;
    // otherwise the files are saved as tars first (see SnapshotStore).
    let detachDiskTo: string | undefined;
    try {
      if (!info) throw new Error('the sandbox is gone');
      if (this.host.driverFor(s).capabilities.diskHandover === true)
        detachDiskTo = await snapshots.imageTarget(s.id, info);
      if (detachDiskTo === undefined) {
        const saved = await snapshots.save(s.id, info);
        this.logger.info(
          { sessionId: s.id, via: 'tar', bytes: saved.bytes, saveMs: Math.round(saved.ms), quiesceMs },
          'snapshot saved',
        );
      }
    } catch (err) {
      // The agent process has ended, so the session cannot go on in this sandbox.
      await this.failHibernation(s.id, 'saving its files', err);
      throw err;
    }
    this.host.hibernated(s.id);
    this.host.detach(s.id);
    const d0 = performance.now();
    if (detachDiskTo === undefined) await this.host.teardown(s.id, runtime);
    else {
      try {
        // Complete once destroy resolves: every process gone, the disk cleanly unmounted and moved.
        await this.host.teardown(s.id, runtime, { detachDiskTo });
        const saved = await snapshots.imageSaved(s.id);
        this.logger.info(
          { sessionId: s.id, via: 'disk-image', bytes: saved.bytes, saveMs: Math.round(saved.ms), quiesceMs },
          'snapshot saved',
        );
      } catch (err) {
        if (!(err instanceof DiskHandoverRefused)) {
          await this.failHibernation(s.id, 'handing its disk over', err);
          throw err;
        }
        // Its filesystem is live in another namespace: the disk stays mounted where it was (its processes are
        // gone), so its files are saved as tars and the sandbox destroyed.
        this.logger.warn({ sessionId: s.id, reason: err.message }, 'the disk cannot be handed over; saving tars');
        await this.saveThenDestroy(s, info, snapshots, quiesceMs);
      }
    }
    const destroyMs = Math.round(performance.now() - d0);
    const hibernated = await this.store.updateSession(s.id, { sandbox_state: 'hibernated', sandbox_id: null });
    this.logger.info({ sessionId: s.id, ms: Math.round(performance.now() - t0), destroyMs }, 'session hibernated');
    if (hibernated) this.events.announce('session.hibernated', hibernated);
  }

  private async saveThenDestroy(
    s: SessionRecord,
    info: SandboxInfo,
    snapshots: SnapshotStore,
    quiesceMs: number,
  ): Promise<void> {
    try {
      const saved = await snapshots.save(s.id, info);
      this.logger.info(
        { sessionId: s.id, via: 'tar', bytes: saved.bytes, saveMs: Math.round(saved.ms), quiesceMs },
        'snapshot saved',
      );
      await this.host.driverFor(s).destroy(info.id);
    } catch (err) {
      await this.failHibernation(s.id, 'saving its files', err);
      throw err;
    }
  }

  private async failHibernation(sessionId: string, step: string, err: unknown): Promise<void> {
    await this.host.fail(sessionId, `The session could not hibernate: ${step} failed (${(err as Error).message})`);
  }
}
