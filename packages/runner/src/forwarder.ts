import net from 'node:net';
import type { Logger } from './log.js';

/** A running forwarder. */
export interface Forwarder {
  /** `http://127.0.0.1:<port>`: the CLI's ANTHROPIC_BASE_URL (model) or HTTP(S)_PROXY (egress). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A forwarder: a TCP server on 127.0.0.1 (ephemeral port) relaying every connection byte for byte to one of
 * berthd's unix sockets. The sandbox has no network but `lo`, so the two forwarders are its only ways out: `model`
 * to the model gateway (which swaps the per-session token for the real credential) and `egress` to the egress
 * proxy (which decides every request). HTTP is not parsed here: one TCP connection maps to one unix connection,
 * half-closes included.
 */
export async function startForwarder(opts: {
  name: 'model' | 'egress';
  socket: string;
  log: Logger;
}): Promise<Forwarder> {
  const sockets = new Set<net.Socket>();
  // noDelay: a relay must not hold back a small segment waiting for an ACK (Nagle), or a reply sent in two pieces
  // stalls ~40 ms on the peer's delayed ACK (measured by bench B5d).
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.createConnection({ path: opts.socket, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    const fail = (side: string) => (err: NodeJS.ErrnoException) => {
      opts.log.warn(`${opts.name} forwarder connection failed`, { side, code: err.code, message: err.message });
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail('client'));
    upstream.on('error', fail('berthd'));
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    // pipe() ends the destination when the source ends, which forwards each half-close.
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  opts.log.info(`${opts.name} forwarder listening`, { port, socket: opts.socket });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
