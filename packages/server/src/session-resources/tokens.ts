/**
 * Repository tokens of live sessions, in memory only: never written to the store, the log or a sandbox. A berthd
 * restart ends every session of this build (sandboxes are not re-adopted), so nothing would ever need them after
 * one; when re-adoption or replicas arrive, they must be sealed with the vault cipher instead (ADR
 * git-repository-resources).
 */
export class RepositoryTokens {
  private readonly bySession = new Map<string, Map<string, string>>();

  /** Sets (or replaces) a resource's token. */
  set(sessionId: string, resourceId: string, token: string): void {
    let m = this.bySession.get(sessionId);
    if (!m) this.bySession.set(sessionId, (m = new Map<string, string>()));
    m.set(resourceId, token);
  }

  get(sessionId: string, resourceId: string): string | undefined {
    return this.bySession.get(sessionId)?.get(resourceId);
  }

  /** Drops every token of a session (its sandbox is gone). */
  /** Drops one resource's token (the resource was deleted). */
  drop(sessionId: string, resourceId: string): void {
    this.bySession.get(sessionId)?.delete(resourceId);
  }

  forget(sessionId: string): void {
    this.bySession.delete(sessionId);
  }
}
