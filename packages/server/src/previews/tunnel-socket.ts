import { randomBytes } from 'node:crypto';
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { MAX_TUNNEL_HEADER_BYTES, TunnelHeaderSchema, type BerthdFrame, type TunnelHeader } from '@berth/protocol';
import type { Logger } from '../logger.js';

/** Why a tunnel did not open: the runner's refusal, a timeout, a limit, or the sandbox going away. */
export class TunnelError extends Error {
  constructor(
    readonly reason: NonNullable<TunnelHeader['error']> | 'timeout' | 'limit' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

export interface TunnelSocketOptions {
  /** `<runDir>/tunnel.sock` on the host. */
  path: string;
  sessionId: string;
  /** Sends a frame to the sandbox's runner (queued until it is connected). */
  send: (frame: BerthdFrame) => void;
  /** How long the runner may take to connect back after `open_tunnel`. */
  openTimeoutMs: number;
  /** Most tunnels open (or opening) at once; more are refused with `limit`. */
  maxTunnels: number;
  logger: Logger;
}

interface Pending {
  resolve: (s: Socket) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * berthd's end of one sandbox's tunnel socket. Only that sandbox can reach the socket, so a connection on it comes
 * from that sandbox; what it says is still untrusted: the first line must be a valid header naming a tunnel berthd
 * asked for (random 128-bit ids, each used once), or the connection is dropped.
 */
export class TunnelSocket {
  private server: Server | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly live = new Set<Socket>();
  private closed = false;

  constructor(private readonly o: TunnelSocketOptions) {}

  async listen(): Promise<void> {
    await rm(this.o.path, { force: true });
    const server = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.path, () => resolve());
    });
    // The sandbox user is a different uid; the run dir above the socket is what keeps everyone else out.
    await chmod(this.o.path, 0o666);
    this.server = server;
  }

  /** Tunnels open or being opened. */
  get count(): number {
    return this.live.size + this.pending.size;
  }

  /** Asks the runner for a connection to `port` inside the sandbox; resolves with the relayed socket. */
  open(port: number): Promise<Socket> {
    if (this.closed) return Promise.reject(new TunnelError('closed', "the session's sandbox is gone"));
    if (this.count >= this.o.maxTunnels) {
      return Promise.reject(
        new TunnelError('limit', `the session already has ${this.o.maxTunnels} preview connections open`),
      );
    }
    const id = randomBytes(16).toString('hex');
    return new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TunnelError('timeout', `the sandbox did not open the tunnel within ${this.o.openTimeoutMs} ms`));
      }, this.o.openTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.o.send({ type: 'open_tunnel', session_id: this.o.sessionId, tunnel_id: id, port });
    });
  }

  /** Ends every tunnel and stops listening. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TunnelError('closed', "the session's sandbox is gone"));
      this.pending.delete(id);
    }
    for (const s of this.live) s.destroy();
    this.live.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.o.path, { force: true });
  }

  private accept(socket: Socket): void {
    if (this.closed) return void socket.destroy();
    let buf = Buffer.alloc(0);
    // A connection that never finishes its header must not hold a file descriptor forever.
    socket.setTimeout(this.o.openTimeoutMs, () => socket.destroy());
    socket.on('error', (err) => this.o.logger.debug({ err }, 'tunnel socket error'));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length >= MAX_TUNNEL_HEADER_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      const rest = buf.subarray(nl + 1);
      if (rest.length > 0) socket.unshift(rest);
      this.onHeader(socket, buf.subarray(0, nl).toString('utf8'));
    };
    socket.on('data', onData);
  }

  private onHeader(socket: Socket, line: string): void {
    let header: TunnelHeader;
    try {
      header = TunnelHeaderSchema.parse(JSON.parse(line));
    } catch {
      this.o.logger.warn('tunnel connection with an invalid header; dropped');
      return void socket.destroy();
    }
    const p = this.pending.get(header.tunnel_id);
    if (!p) {
      this.o.logger.warn('tunnel connection for no pending tunnel; dropped');
      return void socket.destroy();
    }
    this.pending.delete(header.tunnel_id);
    clearTimeout(p.timer);
    if (!header.ok) {
      socket.destroy();
      return p.reject(new TunnelError(header.error ?? 'connect_failed', header.message ?? 'the runner refused'));
    }
    this.live.add(socket);
    socket.once('close', () => this.live.delete(socket));
    p.resolve(socket);
  }
}
