import type Anthropic from '@anthropic-ai/sdk';

/** The load driver's per-session pieces: a live SSE stream read in the background, listing, readiness, a pool. */

type Ev = { id: string; type: string; stop_reason?: { type: string } };

/** One session's live stream, read in the background; `nextIdle()` resolves at its next status_idle. */
export class LiveSession {
  readonly events: Ev[] = [];
  private idles = 0;
  private waiters: Array<{ n: number; resolve: (e: Ev | undefined) => void }> = [];
  private ended = false;
  private consumed = 0;

  constructor(
    readonly id: string,
    readonly stream: AsyncIterable<unknown> & { controller: AbortController },
  ) {
    void this.read();
  }

  private async read(): Promise<void> {
    try {
      for await (const raw of this.stream) {
        const e = raw as Ev;
        this.events.push(e);
        if (e.type === 'session.status_idle' || e.type === 'session.status_terminated') {
          this.idles++;
          for (const w of this.waiters.filter((x) => x.n <= this.idles)) w.resolve(e);
          this.waiters = this.waiters.filter((x) => x.n > this.idles);
        }
      }
    } catch {
      // Aborted at the end of the run (or the connection failed: then ids are missing and the check says so).
    } finally {
      this.ended = true;
      for (const w of this.waiters) w.resolve(undefined);
      this.waiters = [];
    }
  }

  /** Resolves at the next idle not yet consumed (undefined on timeout or stream end). */
  nextIdle(timeoutMs: number): Promise<Ev | undefined> {
    const n = ++this.consumed;
    if (this.idles >= n) return Promise.resolve(this.events.filter(isIdle)[n - 1]);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      this.waiters.push({
        n,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** Waits until the live stream has delivered `lastId` (or `ms` passed), then closes it. */
  async drain(lastId: string | undefined, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (lastId && !this.events.some((e) => e.id === lastId) && Date.now() < until && !this.ended) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.stream.controller.abort();
  }
}

function isIdle(e: Ev): boolean {
  return e.type === 'session.status_idle' || e.type === 'session.status_terminated';
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Every event id of the session, oldest first (auto-paginated). */
export async function listIds(client: Anthropic, id: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of client.beta.sessions.events.list(id, { limit: 1000 })) ids.push(e.id);
  return ids;
}

/** Polls until the session's sandbox reports ready; resolves with its sandbox id. */
export async function waitReady(client: Anthropic, id: string, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = (await client.beta.sessions.retrieve(id)) as unknown as {
      berth: { sandbox: { id: string | null; state: string } };
    };
    if (s.berth.sandbox.state === 'ready' && s.berth.sandbox.id) return s.berth.sandbox.id;
    if (s.berth.sandbox.state === 'failed' || Date.now() > until) {
      throw new Error(`session ${id}: sandbox ${s.berth.sandbox.state} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}
