import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxDriverError } from '../errors.js';
import type { HostLayout } from './argv.js';
import { prepareBase } from './fsprep.js';
import { discoverLayout, inheritedFds, nodePrefix, resolveBinary, traversable } from './host.js';

/** What a driver instance learns about the host once, at its first use. */
export interface Host {
  bwrap: string;
  /** Needed only for staged sources. */
  setpriv: string | undefined;
  /** Needed only for the launcher pool (its script reads NUL-separated strings); without it there is no pool. */
  bash: string | undefined;
  layout: HostLayout;
  /** The synthetic /etc/passwd and /etc/group (in sandboxesDir). */
  passwd: string;
  group: string;
  /** Inherited fds to overlay in every launcher. */
  leakedFds: number[];
  /** Node installation prefix to bind read-only (only when node is outside /usr). */
  node: string | undefined;
  /** Whether sandbox uids can traverse to sandboxesDir and the node prefix; if not, every sandbox is staged. */
  baseTraversable: boolean;
}

/** Finds the binaries, the system layout and leaked fds, and prepares sandboxesDir. */
export async function discoverHost(opts: {
  sandboxesDir: string;
  bwrapPath: string;
  setprivPath: string;
  nodePath: string;
  /** Any uid of the sandbox range, to evaluate directory permissions with. */
  probeUid: number;
}): Promise<Host> {
  const [bwrap, setpriv, bash, layout, leakedFds, base, nodeReal] = await Promise.all([
    resolveBinary(opts.bwrapPath),
    resolveBinary(opts.setprivPath),
    resolveBinary('bash'),
    discoverLayout(),
    inheritedFds(),
    prepareBase(opts.sandboxesDir),
    realpath(opts.nodePath),
  ]);
  if (bwrap === undefined)
    throw new SandboxDriverError(
      'host_unavailable',
      `bubblewrap not found ('${opts.bwrapPath}'): apt-get install bubblewrap, or set BERTH_BWRAP_PATH`,
    );
  const node = nodePrefix(nodeReal);
  const uid = opts.probeUid;
  const baseTraversable =
    (await traversable(join(opts.sandboxesDir, 'probe'), uid, uid)) &&
    (node === undefined || (await traversable(node, uid, uid)));
  return { bwrap, setpriv, bash, layout, leakedFds, node, baseTraversable, ...base };
}
