import { ApiError } from '../errors.js';
import type { ReadOnlyFile } from '../drivers/driver.js';
import type { FileBlobs } from '../files/blobs.js';
import type { Json } from '../store/store.js';
import { fileResource } from './file.js';
import { isStoredResource, type ResourceContext, type ResourceHandler, type StoredResource } from './types.js';

export type { StoredResource, ResourceContext } from './types.js';

/**
 * Session resources by type. Each type lives in its own module with a `ResourceHandler`; adding a type (e.g.
 * `github_repository`) is one entry here plus its sandbox wiring in `sandboxFilesOf` or its own hook.
 */
const HANDLERS: Record<string, ResourceHandler> = {
  file: fileResource,
};

function handlerOf(type: unknown): ResourceHandler {
  const supported = Object.keys(HANDLERS).join(', ');
  // Not String(type): a JSON object with its own `toString` key cannot be converted and threw (a 500).
  if (typeof type !== 'string')
    throw new ApiError('invalid_request', `A session resource needs a string \`type\` (supported: ${supported}).`);
  const h = Object.hasOwn(HANDLERS, type) ? HANDLERS[type] : undefined;
  if (h) return h;
  throw new ApiError(
    'unsupported_feature',
    `Session resources of type '${type.slice(0, 64)}' are not supported by this Berth build; supported: ${supported}.`,
  );
}

/** Validates the `resources` of a session create and returns them as stored (ids and timestamps assigned). */
export async function prepareResources(params: unknown[], ctx: ResourceContext): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for (const p of params) out.push(await handlerOf((p as { type?: unknown }).type).prepare(p, ctx));
  checkMountPaths(out);
  return out;
}

/** Validates one `resources.add` parameter object against the session's current resources. */
export async function prepareAddedResource(
  params: unknown,
  current: StoredResource[],
  ctx: ResourceContext,
): Promise<StoredResource> {
  const type = (params as { type?: unknown } | null)?.type;
  const h = handlerOf(type);
  if (!h.addable)
    throw new ApiError(
      'unsupported_feature',
      `Resources of type '${String(type).slice(0, 64)}' can only be given at session create.`,
    );
  const r = await h.prepare(params, ctx);
  checkMountPaths([...current, r]);
  return r;
}

/** No two resources at the same mount path, and none inside another (a file cannot hold anything). */
export function checkMountPaths(all: ReadonlyArray<{ mount_path: string }>): void {
  const seen = new Set<string>();
  for (const r of all) {
    if (seen.has(r.mount_path))
      throw new ApiError('invalid_mount_path', `Two resources use mount_path '${r.mount_path}'; give each its own.`);
    seen.add(r.mount_path);
  }
  for (const a of seen)
    for (const b of seen)
      if (b.startsWith(`${a}/`))
        throw new ApiError('invalid_mount_path', `mount_path '${b}' is inside '${a}', another resource's path.`);
}

/** The session's stored resources (ignoring anything malformed in the JSON column). */
export function storedResources(resources: Json[]): StoredResource[] {
  return resources.filter(isStoredResource);
}

/** The read-only files a session's sandbox mounts: every `file` resource, from the Files API's blobs. */
export function sandboxFilesOf(resources: Json[], blobs: FileBlobs): ReadOnlyFile[] {
  return storedResources(resources)
    .filter((r) => r.type === 'file' && typeof r.file_id === 'string')
    .map((r) => ({ source: blobs.path(r.file_id as string), dest: r.mount_path }));
}
