import { z } from 'zod';
import type { BerthConfig } from './config.js';
import { ApiError } from './errors.js';
import type { JsonObject } from './store/store.js';
import { splitRelative } from './workspace/safe-path.js';

/** Longest accepted duration of any lifecycle limit: one year, in seconds. */
const MAX_S = 31_536_000;
const seconds = z.number().int().min(1).max(MAX_S);
const keepPath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => p === '.' || ok(() => splitRelative(p)), {
    message: "must be a relative path inside the workspace ('.' for all of it), without '..'",
  });

function ok(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

/**
 * `berth.lifecycle` of an environment or a session (issue 4's API shape). `null` on a limit means "none".
 * `hibernate_after_s` belongs to `hybrid`, `grace_s` and `keep` to `ephemeral`; each is refused on other patterns.
 */
export const LifecycleSchema = z.strictObject({
  pattern: z.enum(['persistent', 'ephemeral', 'hybrid', 'shared']).optional(),
  idle_timeout_s: seconds.nullable().optional(),
  hibernate_after_s: seconds.nullable().optional(),
  max_lifetime_s: seconds.nullable().optional(),
  turn_timeout_s: seconds.nullable().optional(),
  /** ephemeral: seconds after a turn ends during which a follow-up message keeps the sandbox (0: end at once). */
  grace_s: z.number().int().min(0).max(3600).optional(),
  /** ephemeral: workspace paths kept after the sandbox is destroyed, readable through the files route. */
  keep: z.array(keepPath).max(32).optional(),
});
export type Lifecycle = z.infer<typeof LifecycleSchema>;
export type Pattern = NonNullable<Lifecycle['pattern']>;

/** The resolved policy a session runs under; `null`: no limit. */
export interface LifecyclePolicy {
  pattern: Pattern;
  idle_timeout_s: number | null;
  max_lifetime_s: number | null;
  turn_timeout_s: number | null;
  /** hybrid: idle seconds before the sandbox hibernates. */
  hibernate_after_s: number | null;
  /** ephemeral: grace after a turn before the session ends. */
  grace_s: number;
  /** ephemeral: workspace paths kept as artifacts. */
  keep: string[];
}

/** Server defaults from config (0 there means no limit). */
export interface LifecycleDefaults {
  idleTimeoutS: number;
  maxLifetimeS: number;
  turnTimeoutS: number;
  hibernateAfterS: number;
}

export function lifecycleDefaults(c: BerthConfig): LifecycleDefaults {
  return {
    idleTimeoutS: c.defaultIdleTimeoutS,
    maxLifetimeS: c.defaultMaxLifetimeS,
    turnTimeoutS: c.defaultTurnTimeoutS,
    hibernateAfterS: c.defaultHibernateAfterS,
  };
}

const orDefault = (v: number | null | undefined, d: number): number | null => (v === undefined ? d || null : v);

/** Fields that only mean something for one pattern. */
const PATTERN_FIELDS = { hibernate_after_s: 'hybrid', grace_s: 'ephemeral', keep: 'ephemeral' } as const;

/**
 * Fills the server defaults and refuses what this build cannot do. `inherited` (the environment's stored policy,
 * for a session) applies field by field under `own`; its pattern-specific fields are dropped when `own` picks
 * another pattern.
 */
export function resolveLifecycle(own: Lifecycle | undefined, d: LifecycleDefaults, inherited?: Lifecycle): JsonObject {
  const pattern = own?.pattern ?? inherited?.pattern ?? 'persistent';
  for (const [field, owner] of Object.entries(PATTERN_FIELDS)) {
    const v = own?.[field as keyof typeof PATTERN_FIELDS];
    if (v !== undefined && v !== null && owner !== pattern) {
      throw new ApiError(
        'invalid_request',
        `berth.lifecycle.${field} belongs to the '${owner}' pattern, not '${pattern}'. Remove it or set pattern '${owner}'.`,
      );
    }
  }
  const base = inherited && (inherited.pattern ?? 'persistent') === pattern ? inherited : { ...inherited };
  if (base !== inherited) for (const f of Object.keys(PATTERN_FIELDS)) delete (base as JsonObject)[f];
  const l: Lifecycle = { ...base, ...own };
  const policy: LifecyclePolicy = {
    pattern,
    idle_timeout_s: orDefault(l.idle_timeout_s, d.idleTimeoutS),
    max_lifetime_s: orDefault(l.max_lifetime_s, d.maxLifetimeS),
    turn_timeout_s: orDefault(l.turn_timeout_s, d.turnTimeoutS),
    hibernate_after_s: pattern === 'hybrid' ? orDefault(l.hibernate_after_s, d.hibernateAfterS) : null,
    grace_s: l.grace_s ?? 0,
    keep: l.keep ?? [],
  };
  return shown(policy);
}

/** The stored (and shown) form: pattern-specific fields only on their pattern. */
function shown(p: LifecyclePolicy): JsonObject {
  const { hibernate_after_s, grace_s, keep, ...common } = p;
  if (p.pattern === 'hybrid') return { ...common, hibernate_after_s };
  if (p.pattern === 'ephemeral') return { ...common, grace_s, keep };
  return { ...common };
}

/** A stored lifecycle back in its typed form (sessions made before lifecycles existed have none: no limits). */
export function storedLifecycle(stored: unknown): LifecyclePolicy {
  const l = LifecycleSchema.parse(stored ?? {});
  const pattern = l.pattern ?? 'persistent';
  return {
    pattern,
    idle_timeout_s: l.idle_timeout_s ?? null,
    max_lifetime_s: l.max_lifetime_s ?? null,
    turn_timeout_s: l.turn_timeout_s ?? null,
    hibernate_after_s: l.hibernate_after_s ?? null,
    grace_s: l.grace_s ?? 0,
    keep: l.keep ?? [],
  };
}

/**
 * Refuses an environment whose settings contradict a `shared` lifecycle: a warm pool keeps sandboxes of their own,
 * never members of a shared one (docs/adr/0019-shared-sandboxes.md).
 */
export function refuseSharedConflicts(berth: { lifecycle?: unknown; warm_pool?: unknown }): void {
  const pattern = (berth.lifecycle as Lifecycle | undefined)?.pattern;
  const size = (berth.warm_pool as { size?: number } | undefined)?.size ?? 0;
  if (pattern === 'shared' && size > 0)
    throw new ApiError(
      'invalid_request',
      "berth.warm_pool cannot be used with berth.lifecycle.pattern 'shared': shared sessions join one running " +
        'sandbox and take no warm one. Set berth.warm_pool.size to 0, or use another pattern.',
    );
}
