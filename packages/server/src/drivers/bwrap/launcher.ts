import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { ARGS_FD } from './argv.js';

/** What starting one sandbox process needs. */
export interface LaunchOptions {
  /** The shell to run. Default `/bin/sh`; bash for pooled launchers (see argv.ts `POOL_LAUNCH_SCRIPT`). */
  shell?: string;
  /** argv of the shell: the launcher script and what it execs (see argv.ts `launcherArgv`, `poolLauncherArgv`). */
  argv: string[];
  /** Host uid/gid to start as; undefined for the staging path, where setpriv drops to them after the mounts. */
  uid?: number;
  gid?: number;
  /**
   * stdout and stderr of the sandbox (an O_APPEND fd of runner.log). Absent for a pooled launcher, which opens the
   * log itself once it knows its sandbox; until then both are /dev/null.
   */
  logFd?: number;
  /** Inherited fds to overlay, and an fd of /dev/null to overlay them with (see host.ts `inheritedFds`). */
  leakedFds: readonly number[];
  devNullFd?: number;
}

/** A launcher blocked at its gate: put `pid` into the cgroup, then `release()` it. */
export interface Launched {
  child: ChildProcess;
  pid: number;
  /** Opens the gate and hands over the payload (see argv.ts) over the same pipe. */
  release(payload: string): void;
  /** Closes berthd's end of the gate without opening it: the launcher reads EOF and exits 125. */
  abort(): void;
}

/**
 * Starts `/bin/sh` with the launcher script, detached (own session, not killed with berthd), stdin from /dev/null,
 * stdout and stderr into runner.log, an empty environment (the sandbox's comes through `--args`), and cwd `/`.
 *
 * Why a gate rather than bwrap's --info-fd/--block-fd: bwrap forks its sandbox child (and, with a pid namespace, an
 * init) before it would block, so those processes would have to be found and moved into the cgroup one by one,
 * racing with them. Gating the one process that will exec bwrap means every process of the sandbox is born inside
 * the cgroup; the cost is one exec of /bin/sh (about a millisecond).
 */
export async function launch(opts: LaunchOptions): Promise<Launched> {
  const out = opts.logFd ?? 'ignore';
  const stdio: StdioOptions = ['ignore', out, out, 'pipe'];
  if (opts.leakedFds.length > 0 && opts.devNullFd !== undefined) {
    const top = Math.max(...opts.leakedFds);
    for (let fd = ARGS_FD + 1; fd <= top; fd++) stdio.push(opts.leakedFds.includes(fd) ? opts.devNullFd : 'ignore');
  }
  const child = spawn(opts.shell ?? '/bin/sh', opts.argv, {
    cwd: '/',
    env: {},
    detached: true,
    stdio,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
  });
  if (child.pid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    throw err;
  }
  child.on('error', () => undefined);
  child.unref();
  const gate = child.stdio[ARGS_FD] as Socket;
  // EPIPE when the launcher died before reading; the exit is reported through the child's exit event instead.
  gate.on('error', () => gate.destroy());
  // A pooled launcher waits at its gate for as long as berthd runs; that must not keep berthd's event loop alive.
  gate.unref();
  return {
    child,
    pid: child.pid,
    release(payload: string): void {
      // Close our end once flushed: the data stays readable for bwrap, and the handle does not outlive the launch.
      gate.end(payload, () => gate.destroy());
    },
    abort(): void {
      gate.destroy();
    },
  };
}
