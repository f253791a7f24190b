import type { SnapshotStore } from '../blobs/snapshots.js';
import { DiskHandoverRefused } from '../drivers/disk/index.js';
import type { SandboxDriver, SandboxInfo } from '../drivers/driver.js';
import type { Logger } from '../logger.js';
import type { SessionRecord, Store } from '../store/store.js';

/**
 * Finishes a hibernation that an earlier berthd began and did not finish (it was killed half-way, so the session's
 * `sandbox_state` is still `hibernating`). No step of a hibernation loses the workspace, so it can always be
 * completed from what is left:
 * - the sandbox is still there (its agent may or may not have been stopped; the session was idle): it is
 *   hibernated as `SessionTransitions` would, its disk image handed over to the blob store by the destroy, or its
 *   files saved as tars and then the sandbox destroyed;
 * - the sandbox is gone: the snapshot was complete before its destroy began (the tars are saved first; a disk
 *   image is moved before the sandbox directory is removed), so there is nothing left to do but record it.
 * Resolves once the session is `hibernated`; rejects when no snapshot can be had (the caller ends the session).
 */
export async function completeHibernation(
  s: SessionRecord,
  sandbox: { driver: SandboxDriver; info: SandboxInfo } | undefined,
  snapshots: SnapshotStore,
  store: Store,
  logger: Logger,
): Promise<void> {
  if (sandbox !== undefined) {
    const { driver, info } = sandbox;
    const target = driver.capabilities.diskHandover === true ? await snapshots.imageTarget(s.id, info) : undefined;
    const handedOver =
      target !== undefined &&
      (await driver.destroy(info.id, { detachDiskTo: target }).then(
        () => true,
        (err: unknown) => {
          // Live in another namespace: the disk is mounted back where it was, for the tars below.
          if (!(err instanceof DiskHandoverRefused)) throw err;
          logger.warn({ sessionId: s.id, reason: err.message }, 'the disk cannot be handed over; saving tars');
          return false;
        },
      ));
    if (handedOver) await snapshots.imageSaved(s.id);
    else {
      // Tars saved from this very sandbox are complete (written aside, then renamed) and the sandbox may be half
      // destroyed by now: they are kept. Older ones are from an earlier hibernation: saved again.
      if (!(await snapshots.savedSince(s.id, Date.parse(info.createdAt)))) await snapshots.save(s.id, info);
      await driver.destroy(info.id);
    }
  } else if (!(await snapshots.has(s.id))) {
    throw new Error('its sandbox and its snapshot are both gone');
  }
  await store.updateSession(s.id, { sandbox_state: 'hibernated', sandbox_id: null });
  logger.warn(
    { sessionId: s.id, sandboxId: s.sandbox_id, from: sandbox === undefined ? 'snapshot' : 'sandbox' },
    'completed a hibernation that berthd had not finished',
  );
}
