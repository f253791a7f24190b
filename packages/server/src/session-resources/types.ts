import type { Json, JsonObject, Store } from '../store/store.js';
import type { Clock } from '../api/common.js';

/**
 * A session resource as stored in the session's `resources` column and served on the wire (`sesrsc_…`). Each
 * type adds its own fields; `mount_path` is where the sandbox sees it.
 */
export type StoredResource = JsonObject & {
  id: string;
  type: string;
  mount_path: string;
  created_at: string;
  updated_at: string;
};

/** What a resource type's handler may use. */
export interface ResourceContext {
  store: Store;
  clock: Clock;
}

/**
 * One resource type (`file`; `github_repository` slots in the same way). `prepare` validates a create/add
 * parameter object and returns the stored resource (with a new `sesrsc_` id), or throws an ApiError.
 */
export interface ResourceHandler {
  prepare(params: unknown, ctx: ResourceContext): Promise<StoredResource>;
  /** Whether a resource of this type may be added to a session after it was created (`resources.add`). */
  addable: boolean;
}

/** True when a stored JSON value is a resource (defensive: the column is plain JSON). */
export function isStoredResource(v: Json): v is StoredResource {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.id === 'string';
}
