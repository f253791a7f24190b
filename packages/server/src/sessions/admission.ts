import { ApiError } from '../errors.js';

/** Seconds a client refused for a concurrency limit is told to wait (`retry-after`). */
const RETRY_AFTER_S = 10;

/**
 * The concurrency limits: the server's `--max-sessions` and each environment's `berth.max_sessions`. It holds the
 * environment of every live (or starting) sandbox.
 */
export class Admission {
  private readonly live = new Map<string, string>();

  /** `maxSessions`: most live sandboxes at once (0: no limit). */
  constructor(private readonly maxSessions: number) {}

  /**
   * Refuses a session beyond the global or the environment's limit (429 with retry-after), else reserves its place.
   * Synchronous, so two concurrent creates cannot both take the last place.
   */
  admit(sessionId: string, environmentId: string, envMax: number | undefined): void {
    const global = this.maxSessions;
    if (global > 0 && this.live.size >= global) {
      throw new ApiError(
        'too_many_sessions',
        `This server already runs ${this.live.size} live sessions, its limit (--max-sessions / BERTH_MAX_SESSIONS ` +
          `= ${global}). Delete or archive a session you no longer need, or retry later.`,
        { limit: 'server', max_sessions: global },
        true,
        RETRY_AFTER_S,
      );
    }
    const inEnv = [...this.live.values()].filter((e) => e === environmentId).length;
    if (envMax !== undefined && inEnv >= envMax) {
      throw new ApiError(
        'too_many_sessions',
        `Environment '${environmentId}' already runs ${inEnv} live sessions, its limit (berth.max_sessions = ` +
          `${envMax}). Delete or archive one of its sessions, raise the environment's berth.max_sessions, or retry later.`,
        { limit: 'environment', max_sessions: envMax },
        true,
        RETRY_AFTER_S,
      );
    }
    this.live.set(sessionId, environmentId);
  }

  /** A sandbox that already runs (re-adopted after a restart) takes its place whatever the limits. */
  adopt(sessionId: string, environmentId: string): void {
    this.live.set(sessionId, environmentId);
  }

  /** The session's sandbox is gone (or never started): its place is free. */
  release(sessionId: string): void {
    this.live.delete(sessionId);
  }
}
