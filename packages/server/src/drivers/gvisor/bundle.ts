import { SANDBOX_GID, SANDBOX_PATHS, SANDBOX_UID } from '@berth/protocol';
import type { HostLayout } from '../bwrap/argv.js';
import { SANDBOX_HOSTNAME } from '../bwrap/argv.js';

/** Host paths one sandbox's bundle binds (already resolved and checked by the driver). */
export interface BundleSources {
  install: string;
  /** Paths below `install` to expose; undefined exposes all of it. */
  installPaths?: readonly string[] | undefined;
  run: string;
  workspace: string;
  home: string;
  passwd: string;
  group: string;
  /** Extra read-only binds at the same path inside (node's prefix when it lives outside /usr). */
  extra: { source: string; dest: string }[];
}

/** What `ociConfig` needs to describe one sandbox. */
export interface BundleInput {
  layout: HostLayout;
  sources: BundleSources;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Host uid (= gid) the sandbox user's files belong to. */
  hostUid: number;
  /**
   * RLIMIT_NPROC of the sandbox user, enforced by gVisor's own kernel (the Sentry) for the guest's processes and
   * threads; see README "pids". Undefined: no limit.
   */
  nproc?: number | undefined;
}

type Mount = { destination: string; type: string; source: string; options?: string[] };

const roBind = (source: string, destination: string): Mount => ({
  destination,
  type: 'bind',
  source,
  options: ['rbind', 'ro', 'nosuid', 'nodev'],
});

/**
 * The OCI runtime config (`config.json`) of one gVisor sandbox. Pure.
 *
 * Identity: a user namespace maps the guest's uid/gid 1000 to the sandbox's own host uid, so files it writes in
 * /workspace belong to that uid on the host, as with bwrap. runsc starts its gofer (the file proxy) as root of that
 * namespace; root is mapped to host root because the gofer must open the runDir sockets (root-owned, group = the
 * sandbox gid) and root-owned installs, which a namespace root mapped elsewhere could not. That is the gofer's
 * privilege in every stock runsc deployment (it runs as host root, chrooted); the Sentry runs as `nobody` in a user
 * namespace of its own, under seccomp. The guest runs with no capabilities and no_new_privs.
 *
 * Limits are not in `linux.resources`: the driver runs runsc with `--ignore-cgroups` inside a cgroup it made and
 * limited itself, so every host task of the sandbox (Sentry, gofer, ptrace stubs) is born there (see README).
 */
export function ociConfig(i: BundleInput): Record<string, unknown> {
  const s = i.sources;
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'mode=755'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
  ];
  // Symlinks (/bin -> usr/bin on merged-/usr hosts) are part of the rootfs skeleton, not mounts.
  for (const e of i.layout.system) if (e.kind === 'bind') mounts.push(roBind(e.path, e.path));
  for (const e of i.layout.etc) if (e.kind === 'bind') mounts.push(roBind(e.path, e.path));
  mounts.push(roBind(s.passwd, '/etc/passwd'), roBind(s.group, '/etc/group'));
  const rw = (source: string, destination: string): Mount => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', 'rw', 'nosuid', 'nodev'],
  });
  mounts.push(rw(s.workspace, SANDBOX_PATHS.workspace), rw(s.home, SANDBOX_PATHS.home));
  mounts.push(roBind(s.run, SANDBOX_PATHS.runDir));
  if (s.installPaths === undefined) mounts.push(roBind(s.install, SANDBOX_PATHS.install));
  else for (const p of s.installPaths) mounts.push(roBind(`${s.install}/${p}`, `${SANDBOX_PATHS.install}/${p}`));
  for (const x of s.extra) mounts.push(roBind(x.source, x.dest));

  const idMap = (inside: number, hostId: number) => [
    { containerID: 0, hostID: 0, size: 1 },
    { containerID: inside, hostID: hostId, size: 1 },
  ];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_GID, additionalGids: [] },
      args: [...i.command],
      env: Object.entries(i.env).map(([k, v]) => `${k}=${v}`),
      cwd: SANDBOX_PATHS.workspace,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      noNewPrivileges: true,
      rlimits: i.nproc === undefined ? [] : [{ type: 'RLIMIT_NPROC', hard: i.nproc, soft: i.nproc }],
    },
    root: { path: 'rootfs', readonly: true },
    hostname: SANDBOX_HOSTNAME,
    mounts,
    linux: {
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user'].map((type) => ({ type })),
      uidMappings: idMap(SANDBOX_UID, i.hostUid),
      gidMappings: idMap(SANDBOX_GID, i.hostUid),
      seccomp: GUEST_SECCOMP,
    },
  };
}

/** clone(2) flags that create namespaces. */
const NAMESPACE_FLAGS = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};
const EPERM = 1;

/**
 * The guest's seccomp filter (enforced by gVisor's kernel, `runsc --oci-seccomp`): no new namespaces. Inside its own
 * user namespace a guest process would hold every capability over what it creates there, which bwrap forbids with
 * `--disable-userns`; the escape suite found gVisor allowing `unshare(CLONE_NEWUSER|CLONE_NEWNS)` without this.
 * Gap: clone3 cannot be filtered here. Its flags sit in a struct a filter cannot read, and this runsc ignores
 * `errnoRet` (every refusal is EPERM), so answering ENOSYS to make libc fall back to clone is impossible, and
 * refusing clone3 outright breaks thread creation. A raw clone3 with namespace flags still gets gVisor-internal
 * namespaces (never host ones). Documented in docs/security.md.
 */
export const GUEST_SECCOMP = {
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ['SCMP_ARCH_X86_64'],
  syscalls: [
    { names: ['unshare', 'setns'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
    ...Object.values(NAMESPACE_FLAGS).map((flag) => ({
      names: ['clone'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: EPERM,
      args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
    })),
  ],
};

/**
 * The read-only root's skeleton: a mount point for every mount (gVisor does not create them in a read-only root),
 * each with the host source whose type (file or directory) it must have, and the host's top-level and /etc
 * symlinks. Paths are relative to the rootfs directory. Pure.
 */
export function rootfsSkeleton(
  config: Record<string, unknown>,
  layout: HostLayout,
): {
  mountPoints: { path: string; source: string | undefined }[];
  symlinks: { path: string; target: string }[];
} {
  const rel = (abs: string): string => abs.replace(/^\/+/, '');
  const mounts = config.mounts as Mount[];
  const mountPoints = mounts.map((m) => ({
    path: rel(m.destination),
    source: m.type === 'bind' ? m.source : undefined,
  }));
  const symlinks = [...layout.system, ...layout.etc]
    .filter((e) => e.kind === 'symlink')
    .map((e) => ({ path: rel(e.path), target: e.target }));
  return { mountPoints, symlinks };
}
