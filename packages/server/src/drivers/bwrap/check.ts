import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { CgroupManager } from '../cgroups/index.js';
import { resolveBinary, traversable } from './host.js';
import type { UidRange } from './uids.js';

const run = promisify(execFile);

/** What `checkHost` looks at. */
export interface HostCheckInput {
  bwrapPath: string;
  setprivPath: string;
  sandboxesDir: string;
  uidRange: UidRange;
  cgroups: CgroupManager;
}

/** Oldest bubblewrap with everything used here (--disable-userns, --args with --clearenv/--setenv, --perms). */
const MIN_BWRAP = [0, 8, 0] as const;

async function sysctl(path: string): Promise<string | undefined> {
  return (await readFile(path, 'utf8').catch(() => undefined))?.trim();
}

function older(v: number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) < min[i]!;
  return false;
}

/** Each problem that stops the bwrap driver on this host, phrased as what to do about it. */
export async function checkHost(input: HostCheckInput): Promise<string[]> {
  const problems: string[] = [];
  if (process.getuid?.() !== 0)
    problems.push(
      'berthd is not running as root: the bwrap driver needs root to give each sandbox its own host uid and cgroup; run berthd as root',
    );
  const bwrap = await resolveBinary(input.bwrapPath);
  if (bwrap === undefined)
    problems.push(`bubblewrap not found ('${input.bwrapPath}'): apt-get install bubblewrap, or set BERTH_BWRAP_PATH`);
  else {
    const out = await run(bwrap, ['--version']).then(
      (r) => r.stdout,
      (e: Error) => `error: ${e.message}`,
    );
    const v = /(\d+)\.(\d+)\.(\d+)/.exec(out)?.slice(1).map(Number);
    if (v === undefined || older(v, MIN_BWRAP))
      problems.push(
        `bubblewrap at ${bwrap} reports '${out.trim()}'; Berth needs >= ${MIN_BWRAP.join('.')}: upgrade bubblewrap`,
      );
  }
  if ((await sysctl('/proc/sys/user/max_user_namespaces')) === '0')
    problems.push(
      'user namespaces are disabled: sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d)',
    );
  if ((await sysctl('/proc/sys/kernel/unprivileged_userns_clone')) === '0')
    problems.push('unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1');
  if ((await sysctl('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')) === '1')
    problems.push(
      'AppArmor restricts unprivileged user namespaces: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or install an AppArmor profile allowing userns for bwrap',
    );
  if (problems.length === 0 && bwrap !== undefined) {
    // The real thing, as a sandbox uid: a user namespace with every namespace the driver unshares.
    const uid = input.uidRange.start;
    const args = [
      '--unshare-all',
      '--unshare-user',
      '--unshare-cgroup',
      '--disable-userns',
      '--uid',
      '1000',
      '--gid',
      '1000',
    ];
    args.push('--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64');
    args.push('--symlink', 'usr/bin', '/bin', '--proc', '/proc', '--dev', '/dev', '--', '/usr/bin/true');
    await run(bwrap, args, { uid, gid: uid, env: {}, cwd: '/' }).catch((e: Error & { stderr?: string }) =>
      problems.push(
        `bwrap cannot start a sandbox as uid ${uid}: ${(e.stderr ?? e.message).trim()}; check the user namespace settings above and that bwrap is not setuid`,
      ),
    );
  }
  problems.push(...(await checkDirsAndUids(input)));
  problems.push(...(await input.cgroups.check()));
  return problems;
}

async function checkDirsAndUids(input: HostCheckInput): Promise<string[]> {
  const problems: string[] = [];
  try {
    await mkdir(input.sandboxesDir, { recursive: true, mode: 0o711 });
    await access(input.sandboxesDir, constants.W_OK);
  } catch (err) {
    problems.push(
      `sandboxes directory ${input.sandboxesDir} is not writable (${(err as Error).message}): fix its permissions or the data dir setting`,
    );
  }
  const { start, count } = input.uidRange;
  const fast = await traversable(`${input.sandboxesDir}/x`, start, start).catch(() => false);
  if (!fast && (await resolveBinary(input.setprivPath)) === undefined)
    problems.push(
      `${input.sandboxesDir} is not traversable by sandbox uids, so sources are staged, which needs setpriv: apt-get install util-linux (or chmod o+x the path's parents)`,
    );
  const passwd = (await readFile('/etc/passwd', 'utf8').catch(() => '')).split('\n');
  const clash = passwd
    .map((l) => l.split(':'))
    .filter((f) => Number(f[2]) >= start && Number(f[2]) < start + count)
    .map((f) => `${f[0]}(${f[2]})`);
  if (clash.length > 0)
    problems.push(
      `the sandbox uid range ${start}..${start + count - 1} contains host users ${clash.join(', ')}: move the range (BERTH_UID_RANGE_START)`,
    );
  return problems;
}
