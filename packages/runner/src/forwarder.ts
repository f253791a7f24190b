import net from 'node:net';
import type { Logger } from './log.js';

/** A running model forwarder. */
export interface ModelForwarder {
  /** `http://127.0.0.1:<port>`: the CLI's ANTHROPIC_BASE_URL. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The model forwarder: a TCP server on 127.0.0.1 (ephemeral port) relaying every connection byte for byte to
 * berthd's model gateway unix socket. The sandbox has no network but `lo`, so this is the CLI's only way to the
 * model; berthd swaps the per-session token for the real credential. HTTP is not parsed here: one TCP
 * connection maps to one unix connection, half-closes included.
 */
export async function startModelForwarder(opts: { modelSocket: string; log: Logger }): Promise<ModelForwarder> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.createConnection({ path: opts.modelSocket, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    const fail = (side: string) => (err: NodeJS.ErrnoException) => {
      opts.log.warn('model forwarder connection failed', { side, code: err.code, message: err.message });
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail('client'));
    upstream.on('error', fail('gateway'));
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
  opts.log.info('model forwarder listening', { port, gateway: opts.modelSocket });
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
