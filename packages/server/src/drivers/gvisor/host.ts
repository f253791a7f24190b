import { mkdir, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { HostLayout } from '../bwrap/argv.js';
import { prepareBase } from '../bwrap/fsprep.js';
import { discoverLayout, inheritedFds, nodePrefix, resolveBinary } from '../bwrap/host.js';
import { SandboxDriverError } from '../errors.js';
import { rootfsSkeleton } from './bundle.js';

/** What a gVisor driver instance learns about the host once, at its first use. */
export interface GvisorHost {
  runsc: string;
  layout: HostLayout;
  /** The synthetic /etc/passwd and /etc/group (shared with bwrap's format, kept in sandboxesDir). */
  passwd: string;
  group: string;
  /** Inherited fds to overlay in every launcher. */
  leakedFds: number[];
  /** Node installation prefix to bind read-only (only when node is outside /usr). */
  node: string | undefined;
}

/** Finds runsc, the system layout and leaked fds; prepares sandboxesDir and the runsc state dir. */
export async function discoverGvisorHost(opts: {
  sandboxesDir: string;
  stateDir: string;
  runscPath: string;
  nodePath: string;
}): Promise<GvisorHost> {
  const [runsc, layout, leakedFds, base, nodeReal] = await Promise.all([
    resolveBinary(opts.runscPath),
    discoverLayout(),
    inheritedFds(),
    prepareBase(opts.sandboxesDir),
    realpath(opts.nodePath),
    mkdir(opts.stateDir, { recursive: true, mode: 0o700 }),
  ]);
  if (runsc === undefined)
    throw new SandboxDriverError(
      'host_unavailable',
      `gVisor's runsc not found ('${opts.runscPath}'): apt-get install runsc, or set BERTH_RUNSC_PATH`,
    );
  return { runsc, layout, leakedFds, node: nodePrefix(nodeReal), ...base };
}

/**
 * Writes a bundle: `config.json` (0600: it holds the environment) and the rootfs skeleton, whose mount points take
 * the type of their host source (a file bind needs a file to mount on).
 */
export async function writeBundle(dir: string, config: Record<string, unknown>, layout: HostLayout): Promise<void> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  const { mountPoints, symlinks } = rootfsSkeleton(config, layout);
  for (const m of mountPoints) {
    const target = join(rootfs, m.path);
    const isFile = m.source !== undefined && (await stat(m.source)).isFile();
    if (isFile) {
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await writeFile(target, '', { mode: 0o644, flag: 'a' });
    } else await mkdir(target, { recursive: true, mode: 0o755 });
  }
  for (const l of symlinks) {
    await mkdir(dirname(join(rootfs, l.path)), { recursive: true, mode: 0o755 });
    await symlink(l.target, join(rootfs, l.path)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  await writeFile(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
}
