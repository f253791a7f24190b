import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBinary } from '../bwrap/host.js';
import { createCgroupManager, detectCgroupLayout } from '../cgroups/index.js';
import type { DriverUnderTest } from '../conformance/context.js';
import type { SandboxInfo } from '../driver.js';
import { silentLogger } from '../logger.js';
import { GvisorDriver, type GvisorDriverOptions } from './gvisor-driver.js';
import { HOST_TASK_BASE, HOST_TASKS_PER_GUEST } from './limits.js';

const layout = await detectCgroupLayout();
let made = 0;

/** Why the gVisor tests cannot run here, or false. */
export const skip =
  process.getuid?.() !== 0
    ? 'needs root (runsc needs root to create its namespaces)'
    : (await resolveBinary('runsc')) === undefined
      ? 'runsc not installed: apt-get install runsc (scripts/setup.sh --test does)'
      : layout === undefined
        ? 'no cgroup filesystem mounted'
        : false;

/**
 * Host pids of a gVisor sandbox, found without its cgroup: the runsc processes (gofer, Sentry) whose command line
 * names the sandbox's bundle, and all their descendants (the ptrace stubs).
 */
export async function gvisorProcesses(info: SandboxInfo): Promise<number[]> {
  // The bundle sits in the sandbox directory, which is the workspace's parent, or its grandparent with a disk.
  const dir = info.workspaceDir.replace(/\/(disk\/)?workspace$/, '');
  const marker = join(dir, 'bundle');
  const procs = await Promise.all(
    (await readdir('/proc'))
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        const [cmd, stat] = await Promise.all([
          readFile(`/proc/${n}/cmdline`, 'utf8').catch(() => ''),
          readFile(`/proc/${n}/stat`, 'utf8').catch(() => ''),
        ]);
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return { pid: Number(n), ppid: Number(fields[1]), state: fields[0], cmd };
      }),
  );
  const live = procs.filter((p) => p.state !== undefined && p.state !== 'Z' && p.state !== '');
  const found = new Set(live.filter((p) => p.cmd.includes(marker) || p.cmd.includes(info.id)).map((p) => p.pid));
  for (let grew = true; grew;) {
    grew = false;
    for (const p of live)
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.add(p.pid);
        grew = true;
      }
  }
  return [...found];
}

/** A GvisorDriver on its own temp dir, cgroup parent and uid range. */
export async function makeGvisorDriver(): Promise<
  DriverUnderTest & { driver: GvisorDriver; opts: GvisorDriverOptions; others: GvisorDriver[] }
> {
  const root = await mkdtemp(join(tmpdir(), 'berth-gvisor-test-'));
  const parent = `berth-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const cleanup = async (): Promise<void> => {
    await rm(root, { recursive: true, force: true });
    const roots =
      layout === undefined ? [] : layout.version === 2 ? [layout.root] : [...new Set(layout.hierarchies.values())];
    await Promise.all(roots.map((r) => rmdir(join(r, parent)).catch(() => undefined)));
  };
  await chmod(root, 0o711);
  const installDir = join(root, 'install');
  await mkdir(installDir, { mode: 0o755 });
  const base = Number(process.env.BERTH_TEST_UID_BASE ?? 0);
  const opts: GvisorDriverOptions = {
    sandboxesDir: join(root, 'sandboxes'),
    logger: silentLogger(),
    cgroups: await createCgroupManager({ parent }),
    uidRange: {
      start:
        (Number.isInteger(base) && base >= 0 ? base : 0) +
        400_000 +
        ((Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 256 + (made++ % 256)) * 20,
      count: 20,
    },
  };
  const driver = new GvisorDriver(opts);
  return {
    driver,
    installDir,
    opts,
    others: [],
    cleanup,
    hostProcesses: gvisorProcesses,
    readOnlyError: 'error:EACCES',
    hostPidsMax: (pids) => HOST_TASK_BASE + pids * HOST_TASKS_PER_GUEST,
  };
}
