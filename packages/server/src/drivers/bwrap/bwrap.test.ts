import { randomBytes, randomInt } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { createCgroupManager, detectCgroupLayout, type CgroupLayout } from '../cgroups/index.js';
import { runDriverConformance, type DriverUnderTest } from '../conformance.js';
import { Harness } from '../conformance/harness.js';
import { processesOfUid } from '../conformance/host.js';
import { silentLogger } from '../logger.js';
import { BwrapDriver } from './bwrap-driver.js';
import { resolveBinary } from './host.js';

const layout = await detectCgroupLayout();
const skip =
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
async function makeDriver(
  traversable: boolean,
  cgroupOpts: { v2Root?: string } = {},
): Promise<DriverUnderTest & { opts: ConstructorParameters<typeof BwrapDriver>[0] }> {
  const root = await mkdtemp(join(tmpdir(), 'berth-bwrap-test-'));
  const parent = `berth-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const cleanup = async (): Promise<void> => {
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
      // A random slice so concurrent test runs on this machine do not share uids.
      uidRange: { start: 300_000 + randomInt(0, 5000) * 20, count: 20 },
    };
    return { driver: new BwrapDriver(opts), installDir, opts, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

runDriverConformance({ name: 'bwrap', create: () => makeDriver(true), skip });
runDriverConformance({
  name: 'bwrap, staged (sandboxes and install dir below a 0700 directory)',
  create: () => makeDriver(false),
  skip,
});

// The cgroup v2 code path end to end: on a hybrid host the controller-less unified mount still tracks and kills
// (cgroup.kill); the driver then declares no limits, and the limit tests skip saying so.
const unified = layout?.version === 1 ? layout.unified : undefined;
runDriverConformance({
  name: `bwrap on cgroup v2 at ${unified ?? '(none)'}`,
  create: () => makeDriver(true, { v2Root: unified! }),
  skip: skip !== false ? skip : unified === undefined ? 'this host has no separate cgroup2 mount to test with' : false,
});

describe.skipIf(skip !== false)(`bwrap driver specifics${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disposers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of disposers.reverse()) await d();
  });

  it('passes its own host check', async () => {
    const dut = await makeDriver(true);
    disposers.push(() => dut.cleanup());
    expect(await dut.driver.check()).toEqual([]);
    expect(dut.driver.capabilities).toMatchObject({ diskLimit: false, survivesRestart: true });
  });

  it('reports an OOM kill through the cgroup', async () => {
    const dut = await makeDriver(true);
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const hog = 'const a=[];for(;;){const b=Buffer.alloc(16<<20);b.fill(7);a.push(b)}';
    const p = await h.probe(
      `cp.spawnSync(process.execPath, ['-e', ${JSON.stringify(hog)}]); await report({ done: 1 });`,
      {
        resources: { memoryMib: 128 },
      },
    );
    await p.next(60_000);
    expect(await (dut.driver as BwrapDriver).oomKilled(p.info.id)).toBe(true);
  });

  it('is re-adopted by a new driver instance (berthd restart): listed, uid kept reserved, destroyed', async () => {
    const dut = await makeDriver(true);
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const p = await h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`);
    await p.next();
    const restarted = new BwrapDriver(dut.opts);
    expect(await restarted.inspect(p.info.id)).toMatchObject({ status: 'running', hostUid: p.info.hostUid });
    const h2 = await Harness.start(restarted, dut.installDir);
    disposers.push(() => h2.close());
    const q = await h2.probe(`await report({ up: 1 });`);
    expect(q.info.hostUid).not.toBe(p.info.hostUid);
    await restarted.destroy(p.info.id);
    expect(await processesOfUid(p.info.hostUid)).toEqual([]);
    expect(await dut.driver.inspect(p.info.id)).toBeUndefined();
  });

  it('refuses an id whose directory already exists, without touching it', async () => {
    const dut = await makeDriver(true);
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    const id = newId('sandbox');
    const p = await h.probe(`await report({ up: 1 }); setInterval(() => {}, 1000);`, { id });
    await p.next();
    await expect(h.probe('', { id })).rejects.toThrow(/already exists/);
    expect((await dut.driver.inspect(id))?.status).toBe('running');
  });
});
