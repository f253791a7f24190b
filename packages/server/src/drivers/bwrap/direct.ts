import { open, type FileHandle } from 'node:fs/promises';
import type { SandboxSpec } from '../driver.js';
import { SandboxDriverError } from '../errors.js';
import { launcherArgv, sandboxArgs, stageArgs, type SandboxSources } from './argv.js';
import type { Host } from './discover.js';
import { launch, type Launched } from './launcher.js';

/** What starting a launcher for one known sandbox (the direct path, not pooled) needs. */
export interface DirectLaunch {
  host: Host;
  spec: SandboxSpec;
  sources: SandboxSources;
  /** Sources must be staged by a root bwrap first (see argv.ts `stageArgs`). */
  staged: boolean;
  uid: number;
  /** runner.log, opened by root; closed here once lent to the child. */
  logFile: FileHandle;
  /** For the error message when staging is impossible. */
  sandboxesDir: string;
  disableNestedUserns: boolean;
  /** uid inside (a member of a shared sandbox); default SANDBOX_UID. */
  insideUid?: number | undefined;
}

/** Builds the argv and starts the gated launcher; closes the fds it only lent to the child. */
export async function launchDirect(o: DirectLaunch): Promise<Launched> {
  const { host, spec, uid, staged } = o;
  let devNull: FileHandle | undefined;
  try {
    if (staged && host.setpriv === undefined)
      throw new SandboxDriverError(
        'host_unavailable',
        `a sandbox source is below a directory sandbox uids cannot traverse, and staging needs setpriv: apt-get install util-linux, or chmod o+x the parents of ${o.sandboxesDir}, ${spec.installDir} and ${spec.runDir}`,
      );
    const stage = staged ? stageArgs(o.sources) : undefined;
    const inner = sandboxArgs({
      layout: host.layout,
      sources: stage?.staged ?? o.sources,
      disableNestedUserns: o.disableNestedUserns,
      insideUid: o.insideUid,
      command: spec.command,
    });
    const argv = launcherArgv({
      bwrap: host.bwrap,
      inner,
      ...(stage && { stage: { outer: stage.outer, setpriv: host.setpriv!, uid, gid: uid } }),
    });
    if (host.leakedFds.length > 0) devNull = await open('/dev/null', 'r');
    return await launch({
      argv,
      // Staged: the launcher and the staging bwrap run as root; setpriv drops to the uid before the real bwrap.
      ...(staged ? {} : { uid, gid: uid }),
      logFd: o.logFile.fd,
      leakedFds: host.leakedFds,
      ...(devNull && { devNullFd: devNull.fd }),
    });
  } finally {
    await Promise.all([o.logFile.close(), devNull?.close()]);
  }
}
