import { z } from 'zod';
import type { BerthConfig } from './config.js';
import { ApiError } from './errors.js';
import type { JsonObject } from './store/store.js';

/** Longest accepted duration of any lifecycle limit: one year, in seconds. */
const MAX_S = 31_536_000;
const seconds = z.number().int().min(1).max(MAX_S);

/**
 * `berth.lifecycle` of an environment or a session (issue 4's API shape). `null` on a limit means "none". Only the
 * `persistent` pattern exists in this build; the others (and `hibernate_after_s`, which belongs to `hybrid`) are
 * refused by `resolveLifecycle`, never accepted and ignored.
 */
export const LifecycleSchema = z.strictObject({
  pattern: z.enum(['persistent', 'ephemeral', 'hybrid', 'shared']).optional(),
  idle_timeout_s: seconds.nullable().optional(),
  hibernate_after_s: seconds.nullable().optional(),
  max_lifetime_s: seconds.nullable().optional(),
  turn_timeout_s: seconds.nullable().optional(),
});
export type Lifecycle = z.infer<typeof LifecycleSchema>;

/** The resolved policy a session runs under; `null`: no limit. */
export interface LifecyclePolicy {
  pattern: 'persistent';
  idle_timeout_s: number | null;
  max_lifetime_s: number | null;
  turn_timeout_s: number | null;
}

/** Server defaults from config (0 there means no limit). */
export interface LifecycleDefaults {
  idleTimeoutS: number;
  maxLifetimeS: number;
  turnTimeoutS: number;
}

export function lifecycleDefaults(c: BerthConfig): LifecycleDefaults {
  return {
    idleTimeoutS: c.defaultIdleTimeoutS,
    maxLifetimeS: c.defaultMaxLifetimeS,
    turnTimeoutS: c.defaultTurnTimeoutS,
  };
}

const orDefault = (v: number | null | undefined, d: number): number | null => (v === undefined ? d || null : v);

/** Fills the server defaults and refuses what this build cannot do. */
export function resolveLifecycle(l: Lifecycle | undefined, d: LifecycleDefaults): JsonObject {
  const pattern = l?.pattern ?? 'persistent';
  if (pattern !== 'persistent') {
    throw new ApiError(
      'unsupported_feature',
      `berth.lifecycle.pattern '${pattern}' is not in this build yet; only 'persistent' is. Leave pattern out or use 'persistent'.`,
    );
  }
  if (l?.hibernate_after_s !== undefined && l.hibernate_after_s !== null) {
    throw new ApiError(
      'unsupported_feature',
      "berth.lifecycle.hibernate_after_s belongs to the 'hybrid' pattern, which is not in this build yet. Remove it.",
    );
  }
  const policy: LifecyclePolicy = {
    pattern,
    idle_timeout_s: orDefault(l?.idle_timeout_s, d.idleTimeoutS),
    max_lifetime_s: orDefault(l?.max_lifetime_s, d.maxLifetimeS),
    turn_timeout_s: orDefault(l?.turn_timeout_s, d.turnTimeoutS),
  };
  return { ...policy };
}

/** A stored lifecycle back in its typed form (sessions made before lifecycles existed have none: no limits). */
export function storedLifecycle(stored: unknown): LifecyclePolicy {
  const l = LifecycleSchema.parse(stored ?? {});
  return {
    pattern: 'persistent',
    idle_timeout_s: l.idle_timeout_s ?? null,
    max_lifetime_s: l.max_lifetime_s ?? null,
    turn_timeout_s: l.turn_timeout_s ?? null,
  };
}
