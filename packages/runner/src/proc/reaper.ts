import type { Logger } from '../log.js';
import { descendantsOf, listProcesses, pidsWithEnv, type ProcInfo } from './procfs.js';

/** Which processes belong to one session. */
export interface SessionProcesses {
  /** The session's CLI pid, when known: its descendants are the session's, the CLI itself is spared. */
  cliPid: number | null;
  /** An environment entry every process of the session inherits from the CLI. */
  marker: { name: string; value: string };
}

/** Options for {@link ProcessReaper}. */
export interface ProcessReaperOptions {
  log: Logger;
  /** Pids never to signal: the runner itself. */
  selfPid: number;
  procRoot?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Kills what a session's tools left running. The CLI kills the process group of an interrupted Bash tool, but
 * anything that left that group (setsid, a daemonising double fork) survives it: measured, a
 * `(setsid cmd &)` outlives the interrupt. The reaper finds the session's processes by the CLI's ppid tree and
 * by the environment marker the runner puts in the CLI's env, so re-parented processes are found too.
 */
export class ProcessReaper {
  private readonly procRoot: string;

  constructor(private readonly opts: ProcessReaperOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
  }

  /** The session's processes other than the CLI (and never the runner). */
  find(session: SessionProcesses): ProcInfo[] {
    const procs = listProcesses(this.procRoot);
    const pids = new Set(pidsWithEnv(session.marker.name, session.marker.value, procs, this.procRoot));
    if (session.cliPid !== null) for (const pid of descendantsOf(session.cliPid, procs)) pids.add(pid);
    pids.delete(this.opts.selfPid);
    if (session.cliPid !== null) pids.delete(session.cliPid);
    return procs.filter((p) => pids.has(p.pid) && !isDead(p));
  }

  /**
   * SIGTERM to every process of the session except the CLI, then SIGKILL to what is still there after
   * `graceMs`. Returns how many processes were signalled.
   */
  async reap(session: SessionProcesses, graceMs = 300): Promise<number> {
    const victims = this.find(session);
    if (victims.length === 0) return 0;
    this.opts.log.info('killing leftover session processes', {
      session_id: session.marker.value,
      pids: victims.map((p) => p.pid),
    });
    for (const p of victims) signal(p.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    let alive = victims;
    while (alive.length > 0 && Date.now() < deadline) {
      await sleep(25);
      alive = this.stillAlive(alive);
    }
    for (const p of alive) signal(p.pid, 'SIGKILL');
    return victims.length;
  }

  /** The subset of `procs` that still runs as the same process (same pid and start time). */
  stillAlive(procs: readonly ProcInfo[]): ProcInfo[] {
    const now = new Map(
      listProcesses(this.procRoot)
        .filter((p) => !isDead(p))
        .map((p) => [p.pid, p.startTime]),
    );
    return procs.filter((p) => now.get(p.pid) === p.startTime);
  }
}

function isDead(p: ProcInfo): boolean {
  return p.state === 'Z' || p.state === 'X';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone (ESRCH) or not ours (EPERM): nothing to do either way.
  }
}
