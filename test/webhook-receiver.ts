import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface Received {
  at: number;
  headers: Record<string, string>;
  body: string;
}

/** A webhook receiver on a loopback address (tests only send traffic to loopback). */
export interface WebhookReceiver {
  url: string;
  received: Received[];
  /** The status to answer the next requests with; 0 holds the request open without answering. */
  status: number;
  close(): Promise<void>;
}

/**
 * Starts a receiver on `host` (127.0.0.2 or above, so targets are distinct from berthd's own 127.0.0.1). `first`
 * answers the first requests differently (e.g. [500] fails once, then `status` applies).
 */
export async function startWebhookReceiver(
  opts: { host?: string; status?: number; first?: number[] } = {},
): Promise<WebhookReceiver> {
  const received: Received[] = [];
  const first = [...(opts.first ?? [])];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers as Record<string, string>, body });
      const code = first.shift() ?? r.status;
      if (code !== 0) res.writeHead(code).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.2', resolve));
  const { address, port } = server.address() as AddressInfo;
  const r: WebhookReceiver = {
    url: `http://${address}:${port}/hooks`,
    received,
    status: opts.status ?? 204,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return r;
}

/** Polls `f` until it returns something truthy. */
export async function eventually<T>(f: () => Promise<T | undefined | false> | T | undefined | false, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 50));
  }
}
