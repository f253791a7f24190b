import { rm } from 'node:fs/promises';
import type { CgroupManager } from '../cgroups/index.js';
import type { SandboxSpec } from '../driver.js';
import type { DriverLogger } from '../logger.js';
import { poolPayload } from './argv.js';
import type { Host } from './discover.js';
import {
  createLogFile,
  createSandboxDir,
  grantRunDir,
  makeOwnedDirs,
  removeSandboxDirs,
  sandboxPaths,
} from './fsprep.js';
import { traversable } from './host.js';
import type { LauncherPool, PoolEntry } from './pool.js';
import { writeRecord, type SandboxRecord } from './record.js';
import { diskOf, releaseHandedOver, resolveSpecDir } from './spec.js';
import { stageReadOnlyFiles } from '../readonly-files.js';

/** What starting a sandbox on a pooled launcher needs from the driver. */
export interface ClaimContext {
  sandboxesDir: string;
  host: Host;
  cgroups: CgroupManager;
  pool: LauncherPool;
  log: DriverLogger;
}

/**
 * Largest command + environment sent to a pooled launcher. Far below a socket's send buffer, so the payload is
 * handed to the kernel in one write: berthd dying mid-payload cannot leave bwrap with a truncated option list.
 */
const MAX_POOLED_PAYLOAD = 64 * 1024;

/** Whether a spec is small enough for a pooled launcher (see MAX_POOLED_PAYLOAD). */
export function fitsPool(spec: SandboxSpec): boolean {
  let bytes = 0;
  for (const a of spec.command) bytes += Buffer.byteLength(a) + 1;
  for (const [k, v] of Object.entries(spec.env)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v) + 12;
  // The binds (a few host paths) come on top.
  return bytes + 8192 <= MAX_POOLED_PAYLOAD;
}

/**
 * Starts `spec` on `entry`, a launcher already inside its cgroup: the limits are written onto that group (plain
 * writes, no process moves), the directories, runDir grant and runner.log are prepared, the record (naming the
 * entry's group) is written, and only then is the gate opened with the sandbox's command, environment and binds.
 * Resolves with the record; or with undefined, having left nothing behind and given the untouched entry back, when
 * the sandbox's sources need staging (which a pooled launcher, running as the sandbox uid, cannot do). On failure
 * the entry is returned if nothing of it was used, discarded otherwise.
 */
export async function startPooled(
  ctx: ClaimContext,
  spec: SandboxSpec,
  entry: PoolEntry,
  formatted?: string,
): Promise<SandboxRecord | undefined> {
  const { uid } = entry;
  const paths = sandboxPaths(ctx.sandboxesDir, spec.id, spec.resources.diskMib !== undefined);
  let madeDir = false;
  let touched = false;
  try {
    const [installDir, runDir] = (await allOrThrow([
      resolveSpecDir(spec.installDir, 'installDir', ctx.sandboxesDir, spec.installPaths),
      resolveSpecDir(spec.runDir, 'runDir', ctx.sandboxesDir),
      createSandboxDir(paths).then(() => (madeDir = true)),
    ])) as [string, string, unknown];
    const direct = await Promise.all([installDir, runDir].map((d) => traversable(d, uid, uid)));
    if (!direct.every(Boolean)) {
      await rm(paths.dir, { recursive: true, force: true });
      ctx.pool.giveBack(entry);
      return undefined;
    }
    touched = true;
    const readOnly = await stageReadOnlyFiles(paths.dir, spec.readOnlyFiles, uid);
    await allOrThrow([
      ctx.cgroups.limit(entry.cgroup, spec.resources),
      makeOwnedDirs(paths, uid, uid, diskOf(spec, formatted)),
      grantRunDir(runDir, uid),
      createLogFile(paths.logFile, uid),
    ]);
    const record: SandboxRecord = {
      version: 1,
      id: spec.id,
      driver: 'bwrap',
      hostUid: uid,
      hostGid: uid,
      pid: entry.launched.pid,
      cgroup: entry.cgroup,
      workspaceDir: paths.workspace,
      homeDir: paths.home,
      logFile: paths.logFile,
      runDir,
      installDir,
      staged: false,
      command: [...spec.command],
      resources: { ...spec.resources },
      createdAt: new Date().toISOString(),
    };
    // On disk before the gate opens, as on the direct path: if berthd dies now, the launcher reads EOF and exits,
    // and list() shows an exited sandbox whose recorded group destroy() removes.
    await writeRecord(paths.dir, record);
    await releaseHandedOver(spec);
    ctx.pool.handedOver(entry);
    const { host } = ctx;
    const extra = [...(host.node === undefined ? [] : [{ source: host.node, dest: host.node }]), ...readOnly];
    const sources = {
      install: installDir,
      installPaths: spec.installPaths,
      run: runDir,
      workspace: paths.workspace,
      home: paths.home,
      extra,
    };
    entry.launched.release(
      poolPayload({
        logFile: paths.logFile,
        command: spec.command,
        env: spec.env,
        sources: { ...sources, passwd: host.passwd, group: host.group },
      }),
    );
    return record;
  } catch (err) {
    if (touched) await ctx.pool.discard(entry);
    else ctx.pool.giveBack(entry);
    if (madeDir)
      await removeSandboxDirs(paths, false).catch((e: unknown) =>
        ctx.log.error(
          { sandbox: spec.id, err: (e as Error).message },
          'rollback: removing the sandbox directory failed',
        ),
      );
    throw err;
  }
}

/** The values, or the first rejection once every promise has settled (so a rollback races nothing). */
async function allOrThrow(jobs: Promise<unknown>[]): Promise<unknown[]> {
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value);
}
