import { WebSocket } from 'ws';

export type Ev = { id: string; type: string; [k: string]: unknown };

/** A test client of the WebSocket session channel: every text frame parsed, in arrival order, plus the close. */
export class ChannelClient {
  readonly frames: Ev[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as Ev);
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.wake();
    });
  }

  /** Opens a channel; rejects with the HTTP status when the handshake is refused. */
  static open(
    baseUrl: string,
    sessionId: string,
    opts: { key?: string; after?: string; protocols?: string[] } = {},
  ): Promise<ChannelClient> {
    const url = new URL(`/v1/berth/sessions/${sessionId}/ws`, baseUrl.replace(/^http/, 'ws'));
    if (opts.after) url.searchParams.set('after', opts.after);
    const headers: Record<string, string> = opts.key ? { 'x-api-key': opts.key } : {};
    const ws = new WebSocket(url, opts.protocols ?? [], { headers });
    const client = new ChannelClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => {
          req.destroy();
          reject(new HandshakeRefused(res.statusCode ?? 0, body));
        });
      });
      ws.once('error', reject);
    });
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** Waits until `pred` holds for some frame at index ≥ `from`; returns that index. */
  async waitFor(pred: (e: Ev) => boolean, from = 0, timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((e, k) => k >= from && pred(e));
      if (i >= 0) return i;
      if (this.closed) throw new Error(`channel closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${this.frames.map((e) => e.type).join(', ')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Waits for the close frame. */
  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('channel did not close');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    this.ws.close(1000);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** A handshake answered with an HTTP error instead of 101. */
export class HandshakeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`handshake refused with HTTP ${status}: ${body}`);
  }
}

/** True for the idle that ends a turn (not one waiting for an answer). */
export function endsTurn(e: Ev): boolean {
  return e.type === 'session.status_idle' && (e.stop_reason as { type: string }).type !== 'requires_action';
}
