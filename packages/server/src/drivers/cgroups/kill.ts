import { readText, killPid, sleep } from './fsio.js';
import { CgroupError } from './types.js';

/** The steps a version-specific group gives the shared kill loop. */
export interface KillTarget {
  /** For messages. */
  describe(): string;
  /** Every pid in the group (all hierarchies on v1). */
  listPids(): Promise<number[]>;
  /** Freezes the group; resolves true once frozen, false when there is no freezer (or the group is gone). */
  freeze(deadline: number): Promise<boolean>;
  thaw(): Promise<void>;
  /** The line of /proc/<pid>/cgroup that membership is checked against when the group cannot be frozen. */
  membershipSuffix: string;
}

/**
 * Kills everything in a group by repeatedly SIGKILLing what cgroup.procs lists. With a freezer the group is frozen
 * first, so no process can fork between the listing and the kill and no listed pid can exit and be recycled; the
 * group is thawed so the pending SIGKILLs are delivered. Without one, each pid's membership is re-checked right before
 * the kill (a narrow race remains, so hosts are expected to have the freezer or cgroup.kill).
 */
export async function killLoop(target: KillTarget, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frozen = await target.freeze(deadline);
    let pids: number[] = [];
    try {
      pids = await target.listPids();
      if (!frozen) pids = await stillMembers(pids, target.membershipSuffix);
      for (const pid of pids) killPid(pid);
    } finally {
      if (frozen) await target.thaw();
    }
    if (pids.length === 0 && (await target.listPids()).length === 0) return;
    // Killed processes leave the group when they exit (a few ms); only then is another round meaningful.
    const roundEnd = Math.min(deadline, Date.now() + 250);
    while (Date.now() < roundEnd) {
      if ((await target.listPids()).length === 0) return;
      await sleep(2);
    }
    if (Date.now() >= deadline) {
      const left = await target.listPids();
      if (left.length === 0) return;
      throw new CgroupError(
        `processes ${left.join(', ')} are still in ${target.describe()} after ${timeoutMs} ms of SIGKILL; ` +
          'they may be stuck in uninterruptible I/O (state D): check /proc/<pid>/stack and retry destroy',
      );
    }
  }
}

/** Keeps the pids whose /proc/<pid>/cgroup still names the group. */
async function stillMembers(pids: number[], suffix: string): Promise<number[]> {
  const checks = await Promise.all(
    pids.map(async (pid) => {
      const text = await readText(`/proc/${pid}/cgroup`).catch(() => undefined);
      return text?.split('\n').some((l) => l.endsWith(suffix)) ? pid : undefined;
    }),
  );
  return checks.filter((p): p is number => p !== undefined);
}

/** Polls a state file until `done(text)` or the deadline; true when done. */
export async function waitFor(
  read: () => Promise<string | undefined>,
  done: (text: string | undefined) => boolean,
  deadline: number,
): Promise<boolean> {
  for (;;) {
    if (done(await read())) return true;
    if (Date.now() >= deadline) return false;
    await sleep(1);
  }
}
