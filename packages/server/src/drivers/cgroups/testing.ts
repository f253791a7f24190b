import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Cgroup } from './types.js';

/**
 * Test helper: starts `argv` with every process inside `group` from its first instruction, using the same
 * block-on-a-pipe launcher as the bwrap driver. Resolves with the child once it has exec'd past the gate.
 */
export async function spawnInGroup(group: Cgroup, argv: string[], opts: { uid?: number } = {}): Promise<ChildProcess> {
  const child = spawn('/bin/sh', ['-c', 'read -r _ <&3 || exit 125; exec 3<&-; exec "$@"', 'cg-test', ...argv], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  if (child.pid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    throw err;
  }
  await group.addProcess(child.pid);
  (child.stdio[3] as Writable).end('go\n');
  return child;
}

/** Resolves with the child's exit code and signal. */
export async function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal };
}

/** True when a process with this pid exists (and is not a zombie). */
export async function alive(pid: number): Promise<boolean> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}
