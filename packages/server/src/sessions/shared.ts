import { newId } from '@berth/protocol';
import { SHARED_MAX_MEMBERS, type SandboxDriver } from '../drivers/driver.js';
import { ApiError } from '../errors.js';
import type { SessionRecord } from '../store/store.js';

/** The session field naming the shared sandbox a `shared` session is a member of (shown in its `berth` object). */
export const SHARED_FIELD = 'shared_sandbox_id';

/** The shared sandbox a session record names, if any. */
export function sharedSandboxOf(s: Pick<SessionRecord, 'berth'>): string | undefined {
  const v = s.berth[SHARED_FIELD];
  return typeof v === 'string' ? v : undefined;
}

type Joinable = Pick<SessionRecord, 'id' | 'environment_id' | 'berth'>;

/**
 * Which live sessions share which sandbox (lifecycle `shared`, docs/adr/0019-shared-sandboxes.md). Sessions of one
 * environment with the same driver and resources join the same shared sandbox, up to SHARED_MAX_MEMBERS; the
 * driver creates it with its first member and removes it with its last. Memory only: a restarted berthd rebuilds it
 * from the sessions it re-adopts (`adopt`). `join` is synchronous, so two concurrent creates cannot both open a
 * new sandbox for one environment.
 */
export class SharedSandboxes {
  private readonly groups = new Map<string, { key: string; members: Set<string> }>();
  private readonly memberOf = new Map<string, string>();

  /** The shared sandbox the new session joins: one with room for the same key, else a new id. */
  join(s: Joinable): string {
    const key = keyOf(s);
    let group: string | undefined;
    for (const [id, g] of this.groups)
      if (g.key === key && g.members.size < SHARED_MAX_MEMBERS) {
        group = id;
        break;
      }
    group ??= newId('sharedSandbox');
    this.add(s.id, key, group);
    return group;
  }

  /** A re-adopted session is a member of the sandbox its record names. */
  adopt(s: Joinable): void {
    const group = sharedSandboxOf(s);
    if (group !== undefined) this.add(s.id, keyOf(s), group);
  }

  /** The session's sandbox is being destroyed: it no longer counts as a member. Idempotent. */
  leave(sessionId: string): void {
    const group = this.memberOf.get(sessionId);
    if (group === undefined) return;
    this.memberOf.delete(sessionId);
    const g = this.groups.get(group);
    g?.members.delete(sessionId);
    if (g?.members.size === 0) this.groups.delete(group);
  }

  private add(sessionId: string, key: string, group: string): void {
    const g = this.groups.get(group) ?? { key, members: new Set<string>() };
    g.members.add(sessionId);
    this.groups.set(group, g);
    this.memberOf.set(sessionId, group);
  }
}

function keyOf(s: Joinable): string {
  return JSON.stringify([s.environment_id, s.berth.driver ?? null, s.berth.resources ?? {}]);
}

/** Refuses a `shared` session on a driver without shared sandboxes (gVisor), before anything is stored. */
export function refuseUnshareable(driver: SandboxDriver): void {
  if (driver.capabilities.shared !== true)
    throw new ApiError(
      'unsupported_feature',
      `The ${driver.name} driver cannot run shared sandboxes (berth.lifecycle.pattern 'shared'). ` +
        'Use the bwrap driver, or another pattern.',
    );
}
