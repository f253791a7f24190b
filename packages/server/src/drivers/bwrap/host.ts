import { constants } from 'node:fs';
import { access, lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { HostEntry, HostLayout } from './argv.js';

/** Top-level system paths mirrored into every sandbox when the host has them (merged-/usr or not). */
const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * The /etc the sandbox gets: what the dynamic loader, TLS and name lookup need, nothing else. The host's real
 * /etc (shadow, ssh keys, berthd's config, …) is never exposed; passwd and group are synthetic (argv.ts).
 */
const ETC_ENTRIES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'ssl',
  'ca-certificates',
  'localtime',
  'nsswitch.conf',
  'hosts',
];

/** Linux's O_CLOEXEC (octal, as fdinfo prints flags); Node's fs.constants does not export it. */
const O_CLOEXEC = 0o2000000;

/** Where bare binary names are looked up (the driver does not read PATH from berthd's environment). */
const STANDARD_BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

async function entryFor(path: string): Promise<HostEntry | undefined> {
  try {
    const st = await lstat(path);
    if (st.isSymbolicLink()) return { kind: 'symlink', path, target: await readlink(path) };
    if (st.isDirectory() || st.isFile()) return { kind: 'bind', path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return undefined;
}

/** Discovers which system paths exist on this host and whether they are directories or symlinks. */
export async function discoverLayout(): Promise<HostLayout> {
  const [system, etc] = await Promise.all([
    Promise.all(SYSTEM_PATHS.map(entryFor)),
    Promise.all(ETC_ENTRIES.map((e) => entryFor(`/etc/${e}`))),
  ]);
  const usr = system[0];
  if (usr?.kind !== 'bind') throw new Error('/usr is not a directory on this host; the bwrap driver needs one');
  return { system: system.filter((e) => e !== undefined), etc: etc.filter((e) => e !== undefined) };
}

/** Resolves a binary: an absolute path is checked as is, a bare name is searched in the standard bin dirs. */
export async function resolveBinary(nameOrPath: string): Promise<string | undefined> {
  const candidates = nameOrPath.includes('/') ? [nameOrPath] : STANDARD_BIN_DIRS.map((d) => join(d, nameOrPath));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/**
 * File descriptors berthd inherited without close-on-exec (Node opens everything with O_CLOEXEC, so only
 * inherited ones qualify). libuv passes such fds on to every child; the launcher overlays them with /dev/null so a
 * sandbox never receives a stray host fd (a directory fd would be a way out of the mount namespace).
 */
export async function inheritedFds(): Promise<number[]> {
  const fds = (await readdir('/proc/self/fd')).map(Number).filter((n) => n > 2);
  const leaked = await Promise.all(
    fds.map(async (fd) => {
      const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => undefined);
      const flags = /^flags:\s+([0-7]+)/m.exec(info ?? '')?.[1];
      return flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0 ? fd : undefined;
    }),
  );
  return leaked.filter((fd): fd is number => fd !== undefined);
}

/**
 * True when `uid`/`gid` (a sandbox's host identity, with no supplementary groups) may search every ancestor
 * directory of `path`, which is what bwrap needs to resolve and bind it without privileges. POSIX ACLs are not
 * consulted: a path that only an ACL opens is treated as closed and goes through staging, which always works.
 */
export async function traversable(path: string, uid: number, gid: number): Promise<boolean> {
  const ancestors: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    ancestors.push(d);
    if (d === sep) break;
  }
  const modes = await Promise.all(ancestors.map((d) => stat(d)));
  return modes.every((st) => {
    if (st.uid === uid) return (st.mode & 0o100) !== 0;
    if (st.gid === gid) return (st.mode & 0o010) !== 0;
    return (st.mode & 0o001) !== 0;
  });
}

/** The installation prefix of a node binary outside /usr (e.g. /opt/node for /opt/node/bin/node), else undefined. */
export function nodePrefix(realExecPath: string): string | undefined {
  if (realExecPath.startsWith('/usr/')) return undefined;
  const prefix = dirname(dirname(realExecPath));
  return prefix === sep ? dirname(realExecPath) : prefix;
}
