import { SANDBOX_GID, SANDBOX_PATHS, SANDBOX_UID } from '@berth/protocol';

/** A host path mirrored into the sandbox: bound read-only at the same path, or re-created as the same symlink. */
export type HostEntry = { kind: 'bind'; path: string } | { kind: 'symlink'; path: string; target: string };

/** The host's system layout as the sandbox sees it (discovered once per driver, see host.ts). */
export interface HostLayout {
  /** /usr and the top-level /bin, /lib, … that exist on the host, as directories or symlinks. */
  system: HostEntry[];
  /** The curated /etc entries that exist on the host. */
  etc: HostEntry[];
}

/** Host paths bound into the sandbox: the real ones, or their staged copies (see `stageArgs`). */
export interface SandboxSources {
  install: string;
  /** Paths below `install` to expose (validated: relative, normalised); undefined exposes all of it. */
  installPaths?: readonly string[] | undefined;
  run: string;
  workspace: string;
  home: string;
  passwd: string;
  group: string;
  /** Extra read-only binds at the same path inside, e.g. a node installation outside /usr. */
  extra: { source: string; dest: string }[];
  /** A member of a shared sandbox: the group's exchange directory (see shared.ts). */
  shared?: { area: string } | undefined;
}

/** The fd (in bwrap) carrying the NUL-separated `--args` payload: the launcher's gate pipe, see launcher.ts. */
export const ARGS_FD = 3;

/** Hostname inside every sandbox (the host's name is not leaked). */
export const SANDBOX_HOSTNAME = 'berth';

/**
 * The launcher run by `/bin/sh -c`: block until berthd has put this very process into the sandbox's cgroup and
 * written a line to fd 3, then exec bwrap (or the staging bwrap) with its argv. Constant text: everything variable
 * arrives as "$@", so no user data is ever parsed by the shell. If berthd dies before writing, `read` hits EOF and
 * nothing starts.
 */
export const LAUNCH_SCRIPT = 'read -r _ <&3 || exit 125; exec "$@"';

/** What every sandbox of one driver shares: the host layout and the nested-userns switch. */
export interface BaseOptions {
  layout: HostLayout;
  disableNestedUserns: boolean;
  /** uid and gid inside; default SANDBOX_UID. A member of a shared sandbox gets its own (see shared.ts). */
  insideUid?: number | undefined;
}

/**
 * bwrap options every sandbox of a driver gets, whatever its spec: namespaces, identity, capabilities and the
 * mirrored system view. Kept apart from `mountOptions` so that a pooled launcher (see `poolLauncherArgv`) can be
 * started with them before the sandbox it will serve is known. Pure.
 */
export function baseOptions(opts: BaseOptions): string[] {
  const a: string[] = [];
  // --unshare-all covers user, ipc, pid, net (only `lo` remains), uts and cgroup; user and cgroup are repeated
  // so bwrap fails instead of silently skipping them ("-try") on a host that cannot provide them.
  a.push('--unshare-all', '--unshare-user', '--unshare-cgroup');
  if (opts.disableNestedUserns) a.push('--disable-userns');
  const uid = String(opts.insideUid ?? SANDBOX_UID);
  const gid = String(opts.insideUid ?? SANDBOX_GID);
  a.push('--uid', uid, '--gid', gid, '--hostname', SANDBOX_HOSTNAME);
  a.push('--cap-drop', 'ALL', '--new-session');
  for (const e of opts.layout.system) a.push(...entryArgs(e));
  a.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
  for (const e of opts.layout.etc) a.push(...entryArgs(e));
  return a;
}

/** The binds that belong to one sandbox: identity files, workspace, home, runDir, installDir, extras. Pure. */
export function mountOptions(sources: SandboxSources): string[] {
  const a: string[] = [];
  a.push('--ro-bind', sources.passwd, '/etc/passwd', '--ro-bind', sources.group, '/etc/group');
  a.push('--bind', sources.workspace, SANDBOX_PATHS.workspace, '--bind', sources.home, SANDBOX_PATHS.home);
  a.push('--ro-bind', sources.run, SANDBOX_PATHS.runDir);
  // Shared: a writable bind, where the members' distinct uids decide who may change what (each its own outbox).
  if (sources.shared !== undefined) a.push('--bind', sources.shared.area, SANDBOX_PATHS.shared);
  if (sources.installPaths === undefined) a.push('--ro-bind', sources.install, SANDBOX_PATHS.install);
  else
    for (const p of sources.installPaths)
      a.push('--ro-bind', `${sources.install}/${p}`, `${SANDBOX_PATHS.install}/${p}`);
  for (const x of sources.extra) a.push('--ro-bind', x.source, x.dest);
  return a;
}

/** Last: the sandbox's own root (a tmpfs bwrap made) becomes read-only; the mounts before keep their own flags. */
export const FINAL_OPTIONS: readonly string[] = ['--remount-ro', '/', '--chdir', SANDBOX_PATHS.workspace];

/**
 * bwrap arguments for the sandbox itself (everything before the command, then `--`, then the command). The
 * environment is not here: it travels in the `--args` payload (`envPayload`) so that it never shows up in
 * /proc/<pid>/cmdline, which every host user can read. Pure.
 */
export function sandboxArgs(opts: BaseOptions & { sources: SandboxSources; command: readonly string[] }): string[] {
  return [
    ...['--args', String(ARGS_FD)],
    ...baseOptions(opts),
    ...mountOptions(opts.sources),
    ...FINAL_OPTIONS,
    '--',
    ...opts.command,
  ];
}

function entryArgs(e: HostEntry): string[] {
  return e.kind === 'bind' ? ['--ro-bind', e.path, e.path] : ['--symlink', e.target, e.path];
}

/** `--clearenv` then one `--setenv` per variable. Pure. */
export function envArgs(env: Readonly<Record<string, string>>): string[] {
  const args = ['--clearenv'];
  for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);
  return args;
}

/** Strings NUL-terminated and joined, the format of bwrap's `--args FD` and of the pooled launcher's header. */
export function nulJoin(args: readonly string[]): string {
  return args.map((s) => `${s}\0`).join('');
}

/** `envArgs` NUL-terminated, for bwrap's `--args FD`. Pure. */
export function envPayload(env: Readonly<Record<string, string>>): string {
  return nulJoin(envArgs(env));
}

/** Where the staging bwrap mounts its tmpfs; every sandbox source is bound below it. */
export const STAGE_ROOT = '/tmp';

/**
 * The staging step for hosts where a source lies below a directory the sandbox uid cannot traverse (e.g. an
 * install under /root): bwrap 0.8 resolves every bind source, even `--bind-fd`'s /proc/self/fd/N, by path as the
 * unprivileged uid. So a first bwrap runs as root (no user namespace) in a private mount namespace, binds the
 * sources under a fresh tmpfs at STAGE_ROOT, and execs setpriv to drop to the sandbox uid and run the real bwrap,
 * which then binds the staged, traversable paths. Nothing is mounted on the host. Pure.
 */
export function stageArgs(real: SandboxSources): { outer: string[]; staged: SandboxSources } {
  const at = (name: string): string => `${STAGE_ROOT}/${name}`;
  const staged: SandboxSources = {
    install: at('install'),
    installPaths: real.installPaths,
    run: at('run'),
    workspace: at('workspace'),
    home: at('home'),
    passwd: at('passwd'),
    group: at('group'),
    extra: real.extra.map((x, i) => ({ source: at(`extra${i}`), dest: x.dest })),
    shared: real.shared && { area: at('shared') },
  };
  const outer = ['--dev-bind', '/', '/', '--tmpfs', STAGE_ROOT];
  outer.push('--ro-bind', real.install, staged.install, '--ro-bind', real.run, staged.run);
  outer.push('--bind', real.workspace, staged.workspace, '--bind', real.home, staged.home);
  outer.push('--ro-bind', real.passwd, staged.passwd, '--ro-bind', real.group, staged.group);
  real.extra.forEach((x, i) => outer.push('--ro-bind', x.source, staged.extra[i]!.source));
  if (real.shared !== undefined) outer.push('--bind', real.shared.area, at('shared'));
  return { outer, staged };
}

/** The full argv of `/bin/sh` for one sandbox: launcher script, then bwrap (direct) or staging bwrap → setpriv → bwrap. */
export function launcherArgv(opts: {
  bwrap: string;
  inner: string[];
  stage?: { outer: string[]; setpriv: string; uid: number; gid: number };
}): string[] {
  const head = ['-c', LAUNCH_SCRIPT, 'berth-launch'];
  const { stage } = opts;
  if (stage === undefined) return [...head, opts.bwrap, ...opts.inner];
  const drop = [stage.setpriv, '--reuid', String(stage.uid), '--regid', String(stage.gid), '--clear-groups', '--'];
  return [...head, opts.bwrap, ...stage.outer, '--', ...drop, opts.bwrap, ...opts.inner];
}

/**
 * The pooled launcher, run by `bash -c` (bash for `read -d ''` and `mapfile -d ''`, which take NUL-separated
 * strings verbatim: no word splitting, no globbing, no evaluation). It is started before the sandbox it will serve
 * is known, so the per-sandbox part arrives on fd 3 once berthd has put it into its cgroup (see `poolPayload`):
 * the runner.log path, the command's length and the command (bwrap 0.8 cannot take the command from `--args`),
 * then the NUL-separated bwrap options that `--args 3` reads up to EOF (bash reads pipes one byte at a time, so it
 * consumes exactly its part). Any short read, i.e. berthd died before or while writing, exits 125 before anything
 * starts.
 */
export const POOL_LAUNCH_SCRIPT = [
  "IFS= read -r -d '' log <&3 || exit 125",
  "IFS= read -r -d '' n <&3 || exit 125",
  "case $n in ''|0|*[!0-9]*) exit 125;; esac",
  'mapfile -t -d \'\' -n "$n" -u 3 cmd',
  '[ "${#cmd[@]}" = "$n" ] || exit 125',
  'exec >>"$log" 2>&1 || exit 126',
  'exec "$@" -- "${cmd[@]}"',
].join('\n');

/**
 * argv of bash for a pooled launcher: only what every sandbox of the driver shares. The per-sandbox binds and the
 * environment come through `--args 3`; the read-only remount and chdir follow it in argv, so they apply after
 * every payload mount whatever the payload holds. Pure.
 */
export function poolLauncherArgv(bwrap: string, base: BaseOptions): string[] {
  return [
    '-c',
    POOL_LAUNCH_SCRIPT,
    'berth-launch',
    bwrap,
    ...baseOptions(base),
    '--args',
    String(ARGS_FD),
    ...FINAL_OPTIONS,
  ];
}

/** What a pooled launcher is told when it is claimed: see `POOL_LAUNCH_SCRIPT` for the order. Pure. */
export function poolPayload(opts: {
  logFile: string;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  sources: SandboxSources;
}): string {
  const header = [opts.logFile, String(opts.command.length), ...opts.command];
  return nulJoin([...header, ...envArgs(opts.env), ...mountOptions(opts.sources)]);
}

/** The sandbox user's /etc/passwd and /etc/group (uid/gid SANDBOX_UID, home SANDBOX_PATHS.home). */
export function identityFiles(): { passwd: string; group: string } {
  return {
    passwd:
      'root:x:0:0:root:/root:/usr/sbin/nologin\n' +
      `agent:x:${SANDBOX_UID}:${SANDBOX_GID}:Berth agent:${SANDBOX_PATHS.home}:/bin/sh\n` +
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    group: `root:x:0:\nagent:x:${SANDBOX_GID}:\nnogroup:x:65534:\n`,
  };
}
