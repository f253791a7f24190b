import { newId } from '@berth/protocol';
import type { EventInput } from './event-log.js';

/** The `session.error` events berthd itself adds to a history (the runner emits the agent's own). */
/** The `session.error` that says a turn was interrupted for passing its wall-clock limit. */
export function turnTimeoutError(limitS: number): EventInput {
  return {
    id: newId('event'),
    type: 'session.error',
    error: {
      type: 'unknown_error',
      message:
        `The turn ran longer than its wall-clock limit of ${limitS} s (berth.lifecycle.turn_timeout_s) and was ` +
        'interrupted. Raise turn_timeout_s on the environment or the session, or split the work into shorter turns.',
      retry_status: { type: 'exhausted' },
    },
  };
}

/**
 * The `session.error` for tool processes the kernel killed at the sandbox's memory limit. The turn goes on (the agent
 * sees a failed tool), hence `retrying`.
 */
export function memoryKillError(killed: number, memoryMib: number | undefined): EventInput {
  const limit = memoryMib ? ` of ${memoryMib} MiB (berth.resources.memory_mib)` : '';
  return {
    id: newId('event'),
    type: 'session.error',
    error: {
      type: 'unknown_error',
      message:
        `The sandbox reached its memory limit${limit}: the kernel killed ${killed} process(es). Use less memory, or ` +
        "raise the environment's memory limit.",
      retry_status: { type: 'retrying' },
    },
  };
}

/** Why a session ended at its maximum lifetime. */
export function lifetimeMessage(limitS: number): string {
  return (
    `The session reached its maximum lifetime of ${limitS} s (berth.lifecycle.max_lifetime_s) and its sandbox was ` +
    'stopped. Create a new session, or raise max_lifetime_s on the environment or the session.'
  );
}

/** Why a session ended after its idle timeout. */
export function idleMessage(limitS: number): string {
  return (
    `The session was idle for longer than its idle timeout of ${limitS} s (berth.lifecycle.idle_timeout_s) and ` +
    'ended. Create a new session, or raise or unset idle_timeout_s on the environment or the session (a ' +
    "'hybrid' session hibernates instead after hibernate_after_s)."
  );
}
