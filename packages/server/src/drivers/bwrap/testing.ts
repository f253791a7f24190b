import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCgroupManager, detectCgroupLayout, type CgroupLayout } from '../cgroups/index.js';
import type { DriverUnderTest } from '../conformance/context.js';
import { silentLogger } from '../logger.js';
import { BwrapDriver, type BwrapDriverOptions } from './bwrap-driver.js';
import { resolveBinary } from './host.js';

/** The host's cgroup layout, as the driver tests see it. */

/** Drivers this test process made (for distinct uid slices). */
let made = 0;
export const layout = await detectCgroupLayout();

/** Why the real-sandbox tests cannot run here, or false. */
export const skip =
  process.getuid?.() !== 0
    ? 'needs root (berthd gives each sandbox its own host uid and cgroup)'
    : (await resolveBinary('bwrap')) === undefined
      ? 'bwrap not installed: apt-get install bubblewrap'
      : layout === undefined
        ? 'no cgroup filesystem mounted'
        : false;

/** Removes the per-suite cgroup parent from every hierarchy it was created in. */
async function removeCgroupParent(l: CgroupLayout | undefined, parent: string): Promise<void> {
  const roots = l === undefined ? [] : l.version === 2 ? [l.root] : [...new Set(l.hierarchies.values())];
  await Promise.all(roots.map((r) => rmdir(join(r, parent)).catch(() => undefined)));
}

/**
 * A BwrapDriver on its own temp dir, cgroup parent and uid range. `traversable` false puts everything (the
 * sandboxes dir and the install dir) below a 0700 directory, so every source goes through staging.
 */
export async function makeDriver(
  traversable: boolean,
  cgroupOpts: { v2Root?: string } = {},
  driverOpts: { launcherPool?: number } = {},
): Promise<DriverUnderTest & { driver: BwrapDriver; opts: BwrapDriverOptions; others: BwrapDriver[] }> {
  const root = await mkdtemp(join(tmpdir(), 'berth-bwrap-test-'));
  const parent = `berth-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  let driver: BwrapDriver | undefined;
  /** More instances on the same state (a restarted berthd), closed with the first. */
  const others: BwrapDriver[] = [];
  const cleanup = async (): Promise<void> => {
    // Idle pooled launchers hold their cgroups: the parent can only go once they are gone.
    for (const d of [driver, ...others]) await d?.close();
    await rm(root, { recursive: true, force: true });
    await removeCgroupParent(cgroupOpts.v2Root ? { version: 2, root: cgroupOpts.v2Root } : layout, parent);
  };
  try {
    await chmod(root, traversable ? 0o711 : 0o700);
    const installDir = join(root, 'install');
    await mkdir(installDir, { mode: 0o755 });
    const opts = {
      sandboxesDir: join(root, 'sandboxes'),
      logger: silentLogger(),
      cgroups: await createCgroupManager({ parent, ...cgroupOpts }),
      // A slice of its own per vitest worker and per driver made in it, so test files running in parallel never
      // share a uid (a shared uid would make one test's cleanup check see another test's processes).
      uidRange: {
        start: uidBase() + 300_000 + ((Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 256 + (made++ % 256)) * 20,
        count: 20,
      },
      ...driverOpts,
    };
    driver = new BwrapDriver(opts);
    return { driver, installDir, opts, cleanup, others };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** BERTH_TEST_UID_BASE offsets test uids so two checkouts can run their suites at once on one host. */
function uidBase(): number {
  const n = Number(process.env.BERTH_TEST_UID_BASE ?? 0);
  return Number.isInteger(n) && n >= 0 && n < 1_000_000_000 ? n : 0;
}
