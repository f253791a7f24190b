import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * runsc flags every command of this driver passes (create, state, ps, delete must agree on them):
 * - `--root`: the driver's own state directory, so its containers never mix with another runtime's.
 * - `--network=none`: only `lo` (the sandbox network stack of this build fails here, and none is what Berth wants).
 * - `--platform=ptrace`: the only platform that works on these hosts (no systrap in the 2022-12 build; kvm hangs).
 * - `--host-uds=open`: the gofer may connect to (never create) host unix sockets in bind mounts; that is how the
 *   runner reaches berthd's sockets in /run/berth. The older `--fsgofer-host-uds` is deprecated in favour of it.
 * - `--ignore-cgroups`: runsc makes no cgroups; the driver starts runsc inside a cgroup it created and limited, so
 *   every host task of the sandbox is born there and the shared cgroup managers (v1 and v2) do stats and kill.
 * - `--file-access-mounts=shared` and `--overlay2=none` (this build's defaults, pinned): the workspace disk quota
 *   relies on them. Shared access makes the gofer do every write, fallocate and statfs on the host's mount, so
 *   ENOSPC is the host filesystem's answer (with `exclusive`, the Sentry's cache accepted a fallocate past the
 *   quota); no overlay means no write lands in memory or in a filestore outside the disk.
 */
export function globalFlags(stateDir: string): string[] {
  return [
    `--root=${stateDir}`,
    '--network=none',
    '--platform=ptrace',
    '--host-uds=open',
    // Apply the bundle's seccomp filter (no new namespaces in the guest, see bundle.ts).
    '--oci-seccomp',
    '--ignore-cgroups',
    '--file-access-mounts=shared',
    '--overlay2=none',
  ];
}

/** argv (after the runsc binary) that creates and starts a sandbox from a bundle and returns once it runs. */
export function runArgv(stateDir: string, opts: { id: string; bundle: string; log: string }): string[] {
  return [...globalFlags(stateDir), `--log=${opts.log}`, 'run', '--detach', '--bundle', opts.bundle, opts.id];
}

/** Runs a short runsc command and returns its stdout; rejects with runsc's stderr in the message. */
export async function runsc(bin: string, args: string[], timeoutMs = 10_000): Promise<string> {
  try {
    const { stdout } = await exec(bin, args, { env: {}, timeout: timeoutMs, maxBuffer: 1 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`runsc ${args.filter((a) => !a.startsWith('--')).join(' ')}: ${(e.stderr ?? e.message).trim()}`, {
      cause: err,
    });
  }
}

/** Guest process ids of a running sandbox (`runsc ps`), or undefined when runsc no longer knows it. */
export async function guestPids(bin: string, stateDir: string, id: string): Promise<number[] | undefined> {
  try {
    const out = await runsc(bin, [...globalFlags(stateDir), 'ps', '--format', 'json', id], 5_000);
    const pids = JSON.parse(out) as unknown;
    return Array.isArray(pids) ? pids.filter((p): p is number => typeof p === 'number') : undefined;
  } catch {
    return undefined;
  }
}

/** Forgets a (dead or alive) container: runsc's state files and its sandbox, if any process is left. Idempotent. */
export async function deleteContainer(bin: string, stateDir: string, id: string): Promise<void> {
  await runsc(bin, [...globalFlags(stateDir), 'delete', '--force', id]).catch((err: Error) => {
    // "does not exist" is the idempotent case; anything else is reported by the caller's later checks.
    if (!/does not exist|not found|no such/i.test(err.message)) throw err;
  });
}

/** runsc's version line, or undefined when the binary cannot run. */
export async function runscVersion(bin: string): Promise<string | undefined> {
  try {
    return (await runsc(bin, ['--version'], 5_000)).split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}
