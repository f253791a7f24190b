import { realpath, rm, stat } from 'node:fs/promises';
import { isAbsolute, normalize, sep } from 'node:path';
import { isId } from '@berth/protocol';
import type { DriverCapabilities, SandboxResources, SandboxSpec } from '../driver.js';
import { DISK_MIB_MAX, DISK_MIB_MIN } from '../disk/index.js';
import { SandboxDriverError } from '../errors.js';
import { validateReadOnlyFiles } from '../readonly-files.js';

const invalid = (msg: string): SandboxDriverError => new SandboxDriverError('invalid_spec', msg);

function noNul(s: unknown, what: string): string {
  if (typeof s !== 'string' || s.includes('\0')) throw invalid(`${what} must be a string without NUL bytes`);
  return s;
}

/**
 * Checks the shape of a spec before anything touches the host: id format, command, environment, absolute paths.
 * Throws `invalid_spec`. Resources are checked by `checkResources`.
 */
export function validateSpec(spec: SandboxSpec): void {
  if (typeof spec.id !== 'string' || !isId('sandbox', spec.id))
    throw invalid(`sandbox id '${String(spec.id)}' is not a sandbox id: create one with newId('sandbox') (sbx_<ULID>)`);
  if (!Array.isArray(spec.command) || spec.command.length === 0 || spec.command[0] === '')
    throw invalid('command must be a non-empty argv array, e.g. ["/usr/bin/node", "/opt/berth/runner.mjs"]');
  spec.command.forEach((a, i) => noNul(a, `command[${i}]`));
  if (typeof spec.env !== 'object' || spec.env === null) throw invalid('env must be an object of strings');
  for (const [k, v] of Object.entries(spec.env)) {
    if (k === '' || k.includes('=') || k.includes('\0')) throw invalid(`env name '${k}' is not a valid variable name`);
    noNul(v, `env.${k}`);
  }
  for (const key of ['runDir', 'installDir'] as const) {
    const p = noNul(spec[key], key);
    if (!isAbsolute(p)) throw invalid(`${key} must be an absolute host path, got '${p}'`);
  }
  if (spec.installPaths !== undefined) {
    if (!Array.isArray(spec.installPaths)) throw invalid('installPaths must be an array of relative paths');
    spec.installPaths.forEach((p, i) => {
      noNul(p, `installPaths[${i}]`);
      // Normalised and inside installDir: no absolute paths, no '..', no '.', no empty or doubled separators.
      if (p === '' || isAbsolute(p) || normalize(p) !== p || p.split('/').some((seg) => seg === '..' || seg === '.'))
        throw invalid(`installPaths[${i}] must be a normalised relative path inside installDir, got '${p}'`);
    });
  }
  validateReadOnlyFiles(spec.readOnlyFiles);
}

/**
 * Refuses resources a driver (bwrap, gvisor) cannot enforce, before any work is done: a disk quota on a host without
 * loop devices (`noDisks` says why) or a limit whose cgroup controller is missing on this host. Never degrades silently.
 */
export function checkResources(
  r: SandboxResources,
  caps: DriverCapabilities,
  noDisks?: string,
  driver = 'bwrap',
): void {
  if (typeof r !== 'object' || r === null) throw invalid('resources must be an object');
  const unsupported = (what: string, why: string): SandboxDriverError =>
    new SandboxDriverError('unsupported_resource', `${what} cannot be enforced by the ${driver} driver: ${why}`);
  const d = r.diskMib;
  if (d !== undefined && !(Number.isInteger(d) && d >= DISK_MIB_MIN && d <= DISK_MIB_MAX))
    throw invalid(`resources.diskMib must be an integer from ${DISK_MIB_MIN} to ${DISK_MIB_MAX}, got ${d}`);
  if (d !== undefined && !caps.diskLimit)
    throw unsupported(
      `resources.diskMib (${d})`,
      `${noDisks ?? 'no workspace disks'} (capabilities.diskLimit=false); omit diskMib or use a host or driver that declares diskLimit`,
    );
  const check = (v: number | undefined, name: string, ctl: string, ok: boolean, cap: boolean, hint: string): void => {
    if (v === undefined) return;
    if (!ok) throw invalid(`resources.${name} must be ${hint}, got ${v}`);
    if (!cap)
      throw unsupported(`resources.${name}`, `this host's cgroups have no usable ${ctl} controller (see check())`);
  };
  const { memoryMib: m, cpus: c, pids: p } = r;
  check(m, 'memoryMib', 'memory', Number.isInteger(m) && (m ?? 0) > 0, caps.memoryLimit, 'a positive integer');
  check(c, 'cpus', 'cpu', Number.isFinite(c) && (c ?? 0) >= 0.01, caps.cpuLimit, 'a number >= 0.01');
  check(p, 'pids', 'pids', Number.isInteger(p) && (p ?? 0) > 0, caps.pidsLimit, 'a positive integer');
}

/** Checks a shared placement: a `shr_…` group id. Throws `invalid_spec`. */
export function checkShared(spec: SandboxSpec): void {
  const group = spec.shared?.group;
  if (group === undefined) return;
  if (typeof group !== 'string' || !isId('sharedSandbox', group))
    throw invalid(`shared.group '${String(group)}' is not a shared sandbox id: create one with newId('sharedSandbox')`);
}

/** True when `a` is `b` or one of its ancestors. */
export function isSameOrAncestor(a: string, b: string): boolean {
  return a === b || a === sep || b.startsWith(a + sep);
}

/**
 * Resolves a host directory from the spec (symlinks included) and checks it: it must exist, be a directory, not be
 * `/`, and not overlap the sandboxes directory, whose other sandboxes a bind would otherwise expose. With `exposed`
 * (installPaths), only those paths below it are bound, so they are what must not overlap (the installation itself
 * may then contain the data dir, as the default `.berth` in a checkout does).
 */
export async function resolveSpecDir(
  path: string,
  key: string,
  sandboxesDir: string,
  exposed?: readonly string[],
): Promise<string> {
  const real = await existingDir(path, key);
  const checked =
    exposed === undefined ? [real] : await Promise.all(exposed.map((p) => existingDir(`${real}/${p}`, key)));
  if (real === sep) throw invalid(`${key} must not be /`);
  for (const dir of checked) {
    if (isSameOrAncestor(dir, sandboxesDir) || isSameOrAncestor(sandboxesDir, dir))
      throw invalid(`${key} ${dir} overlaps the sandboxes directory ${sandboxesDir}; use a directory outside it`);
  }
  return real;
}

async function existingDir(path: string, key: string): Promise<string> {
  try {
    const real = await realpath(path);
    if (!(await stat(real)).isDirectory()) throw new Error('not a directory');
    return real;
  } catch (err) {
    throw invalid(`${key} ${path} is not an existing directory (${(err as Error).message}); create it before create()`);
  }
}

/** The disk `makeOwnedDirs` makes for a spec (with `formatted`, an image made ahead), or undefined for none. */
export function diskOf(spec: SandboxSpec, formatted?: string): DiskRequest | undefined {
  const sizeMib = spec.resources.diskMib;
  if (sizeMib === undefined) return undefined;
  if (spec.diskImage !== undefined) return { sizeMib, image: spec.diskImage };
  return { sizeMib, ...(formatted !== undefined ? { formatted } : {}) };
}

/** The disk a sandbox gets: a new one of `sizeMib` (from `formatted`, an image made ahead), or a handed-over `image`. */
export interface DiskRequest {
  sizeMib: number;
  formatted?: string;
  image?: string;
}

/**
 * Refuses a `diskImage` the driver cannot take (no `diskHandover`) or that comes without the disk size it must
 * have. Its content is checked when it is attached (`attachWorkspaceDisk`).
 */
export function checkDiskImage(spec: SandboxSpec, caps: DriverCapabilities, driver = 'bwrap'): void {
  const image = spec.diskImage;
  if (image === undefined) return;
  if (typeof image !== 'string' || image.includes('\0') || !isAbsolute(image))
    throw invalid(`diskImage must be an absolute host path, got '${String(image)}'`);
  if (spec.resources.diskMib === undefined) throw invalid('diskImage needs resources.diskMib (the image size)');
  if (spec.shared !== undefined) throw invalid('a member of a shared sandbox cannot start on a disk image');
  if (caps.diskHandover !== true)
    throw new SandboxDriverError('unsupported_resource', `the ${driver} driver cannot start a sandbox on a disk image`);
}

/**
 * Removes the handed-over image's old name once the new sandbox's record names its own link to it: from then on
 * the sandbox owns the disk (see SandboxSpec.diskImage). Until then a crash leaves the old name, so nothing is lost.
 */
export async function releaseHandedOver(spec: SandboxSpec): Promise<void> {
  if (spec.diskImage !== undefined) await rm(spec.diskImage, { force: true });
}
