import { z } from 'zod';
import type { BerthConfig } from './config.js';
import { DISK_MIB_MAX, DISK_MIB_MIN } from './drivers/disk/index.js';
import type { DriverCapabilities, SandboxResources } from './drivers/driver.js';
import { ApiError } from './errors.js';
import type { JsonObject } from './store/store.js';

/**
 * Sandbox resource limits in an environment's `berth.resources` (issue 3's API shape). Stored resolved: every
 * limit the server enforces by default is filled in, so the environment shows what its sessions really get.
 */
export const ResourcesSchema = z.strictObject({
  memory_mib: z.number().int().min(64, 'memory_mib must be at least 64').max(1_048_576).optional(),
  cpus: z.number().min(0.01).max(256).optional(),
  pids: z.number().int().min(32, 'pids must be at least 32').max(4_194_304).optional(),
  disk_mib: z
    .number()
    .int()
    .min(DISK_MIB_MIN, `disk_mib must be at least ${DISK_MIB_MIN}`)
    .max(DISK_MIB_MAX, `disk_mib must be at most ${DISK_MIB_MAX} (1 TiB)`)
    .optional(),
});
export type Resources = z.infer<typeof ResourcesSchema>;

/** Server-wide defaults (from config) applied where an environment says nothing. */
export interface ResourceDefaults {
  memoryMib: number;
  cpus: number;
  pids: number;
  /** 0: no default disk quota. */
  diskMib: number;
}

/** The defaults from berthd's config. */
export function resourceDefaults(c: BerthConfig): ResourceDefaults {
  return { memoryMib: c.defaultMemoryMib, cpus: c.defaultCpus, pids: c.defaultPids, diskMib: c.defaultDiskMib };
}

/**
 * Fills defaults and refuses limits the driver cannot enforce (DESIGN rule 5: never silently degraded).
 */
export function resolveResources(r: Resources | undefined, d: ResourceDefaults, caps: DriverCapabilities): JsonObject {
  const out: JsonObject = {
    memory_mib: r?.memory_mib ?? d.memoryMib,
    cpus: r?.cpus ?? d.cpus,
    pids: r?.pids ?? d.pids,
  };
  // The server default applies where the driver can enforce a quota (the resources shown say which it got);
  // an explicit disk_mib a driver cannot enforce is refused below.
  const disk = r?.disk_mib ?? (d.diskMib > 0 && caps.diskLimit ? d.diskMib : undefined);
  if (disk !== undefined) out.disk_mib = disk;
  const refuse = (field: string, why: string, next = 'Remove it, or use a driver that can.') => {
    throw new ApiError('unsupported_feature', `berth.resources.${field} cannot be enforced: ${why} ${next}`);
  };
  const noDisks =
    "the environment's driver cannot make workspace disks on this host (bwrap needs root, loop devices and e2fsprogs).";
  if (disk !== undefined && !caps.diskLimit) refuse('disk_mib', noDisks);
  if (!caps.memoryLimit) refuse('memory_mib', "the host's cgroups have no memory controller.");
  if (!caps.cpuLimit) refuse('cpus', "the host's cgroups have no cpu controller.");
  if (!caps.pidsLimit) refuse('pids', "the host's cgroups have no pids controller.");
  return out;
}

/** The driver's form of stored resources. */
export function toSandboxResources(stored: unknown): SandboxResources {
  const r = ResourcesSchema.parse(stored ?? {});
  return {
    ...(r.memory_mib !== undefined ? { memoryMib: r.memory_mib } : {}),
    ...(r.cpus !== undefined ? { cpus: r.cpus } : {}),
    ...(r.pids !== undefined ? { pids: r.pids } : {}),
    ...(r.disk_mib !== undefined ? { diskMib: r.disk_mib } : {}),
  };
}
