import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isId } from '@berth/protocol';
import { mountsAt, removeWorkspaceDisk } from '../disk/index.js';
import type { DriverLogger } from '../logger.js';
import { diskPaths, KEPT_FILE, sandboxPaths } from './fsprep.js';
import { RECORD_FILE } from './record.js';

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * Removes the workspace disks of sandbox directories that have neither a record nor a kept workspace: what a berthd
 * that died between mounting a disk and writing sandbox.json left. Recorded sandboxes are removed through
 * destroy() by the start-up cleanup, and kept workspaces stay mounted until their own destroy(). Run once, before
 * this driver creates anything, so no create of this process can be half-way. Returns the sandbox ids swept.
 */
export async function sweepUnrecordedDisks(sandboxesDir: string, log: DriverLogger): Promise<string[]> {
  const names = await readdir(sandboxesDir).catch(() => [] as string[]);
  const swept: string[] = [];
  for (const id of names.filter((n) => isId('sandbox', n))) {
    const paths = sandboxPaths(sandboxesDir, id);
    // The record is checked before the marker: destroy() writes the marker before it removes the record.
    if (await exists(join(paths.dir, RECORD_FILE))) continue;
    if (await exists(join(paths.dir, KEPT_FILE))) continue;
    const disk = diskPaths(paths);
    if (!(await exists(disk.image)) && (await mountsAt(disk.mountPoint)) === 0) continue;
    try {
      await removeWorkspaceDisk(disk);
      swept.push(id);
    } catch (err) {
      log.warn({ sandbox: id, err: (err as Error).message }, 'removing an unrecorded workspace disk failed');
    }
  }
  if (swept.length > 0) log.warn({ sandboxes: swept }, 'removed workspace disks of sandboxes that were never recorded');
  return swept;
}
