import type { ObservedUsage } from '../gateway/usage.js';

/**
 * The hooks the rest of berthd calls to report what it does. Components receive these narrow interfaces (never the
 * metrics registry or the tracer), so the composition root decides what observes them; every hook is optional at
 * the call site (`observer?.…`) so components also run unobserved, as their unit tests do.
 *
 * No hook takes anything unbounded as a metric label: session and sandbox ids are passed so traces and the live
 * session table can use them, and metrics only ever aggregate over them.
 */

/** The outcome of one model request through the gateway. */
export interface ModelRequestOutcome {
  /** HTTP status sent back to the sandbox (the upstream's, or 502 when the gateway failed). */
  status: number;
  /** Usage read from the reply (messages route only). */
  usage?: ObservedUsage | undefined;
  /** The gateway itself failed (upstream unreachable, reply cut off by an error): not an upstream status. */
  failed?: boolean;
}

/** One model request in flight; `end` is called exactly once. */
export interface ModelRequestProbe {
  end(outcome: ModelRequestOutcome): void;
}

/** What the model gateway reports. */
export interface GatewayObserver {
  /** An authenticated request for `route` (`messages` | `count_tokens`) is about to go upstream. */
  modelRequest(sessionId: string, route: ModelRoute): ModelRequestProbe;
  /** The gateway refused a request itself (unknown token, route, size) without calling upstream. */
  modelRequestRejected(reason: 'unauthenticated' | 'bad_route' | 'too_large' | 'budget'): void;
}

export type ModelRoute = 'messages' | 'count_tokens';

/** What a session's runtime reports about its sandbox. */
export interface SandboxObserver {
  /** `driver.create()` returned (ok) or threw, after `seconds`. */
  sandboxCreated(driver: string, seconds: number, ok: boolean): void;
  /** The runner said hello: the sandbox is usable, `seconds` after the runtime started. */
  sandboxReady(driver: string, seconds: number): void;
}

/** Session statuses the observer follows (the store's `SessionStatus` values). */
export type ObservedStatus = 'idle' | 'running' | 'rescheduling' | 'terminated';

/** What the session service reports. */
export interface SessionObserver {
  /** A session was stored and its sandbox is starting on `driver`. */
  sessionStarted(sessionId: string, sandboxId: string, driver: string): void;
  /** The agent process is ready to take messages. */
  agentReady(sessionId: string): void;
  /** A user message was accepted (called inside the API request that sent it). */
  messageSent(sessionId: string): void;
  /** The session's status changed (from its status events). */
  statusChanged(sessionId: string, status: ObservedStatus): void;
  /** The session's sandbox is about to be destroyed (a last usage sample is taken before it goes). */
  sessionStopping(sessionId: string): Promise<void>;
}

/** What the egress audit reports for every decision. */
export interface EgressObserver {
  egressDecision(decision: 'allowed' | 'denied', kind: 'http' | 'connect'): void;
}
