import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { resolveBinary } from './host.js';

const run = promisify(execFile);

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below `dir` in the given mountinfo text, deepest first. Pure. */
export function mountPointsUnder(mountinfo: string, dir: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = unescape(mp);
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Detaches every host mount at or below `dir` but those at `keep` (a kept workspace disk). bwrap only mounts inside
 * the sandbox's own mount namespace, and the workspace disk is removed before this runs, so normally there is none;
 * this is the check that it stays that way (and the repair if something else mounted there). Returns what was
 * unmounted.
 */
export async function unmountUnder(dir: string, keep: readonly string[] = []): Promise<string[]> {
  const all = mountPointsUnder(await readFile('/proc/self/mountinfo', 'utf8'), dir);
  const found = all.filter((mp) => !keep.includes(mp));
  if (found.length === 0) return found;
  const umount = (await resolveBinary('umount')) ?? '/bin/umount';
  for (const mp of found) await run(umount, ['-l', mp]);
  return found;
}
