import type { ObservedStatus, SessionObserver } from '../observability/observer.js';

/** One SessionObserver that tells each of `observers` in turn (metrics and traces, and the sandbox meter). */
export function sessionObservers(...observers: SessionObserver[]): SessionObserver {
  return {
    sessionStarted: (id: string, sandboxId: string, driver: string) => {
      for (const o of observers) o.sessionStarted(id, sandboxId, driver);
    },
    agentReady: (id: string) => {
      for (const o of observers) o.agentReady(id);
    },
    messageSent: (id: string) => {
      for (const o of observers) o.messageSent(id);
    },
    statusChanged: (id: string, status: ObservedStatus) => {
      for (const o of observers) o.statusChanged(id, status);
    },
    sessionStopping: async (id: string) => {
      const results = await Promise.allSettled(observers.map((o) => o.sessionStopping(id)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
