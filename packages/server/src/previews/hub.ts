import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { BerthdFrame } from '@berth/protocol';
import type { Logger } from '../logger.js';
import { TunnelError, TunnelSocket } from './tunnel-socket.js';

/** A per-sandbox attachment the session runtime closes when it destroys the sandbox. */
export interface TunnelAttachment {
  close(): Promise<void>;
}

/**
 * What the session runtime calls, next to making its control, model and egress sockets: `attach` makes
 * `<runDir>/tunnel.sock` before the sandbox is created (so every driver sees it like the others).
 */
export interface TunnelAttacher {
  attach(sessionId: string, runDir: string, send: (frame: BerthdFrame) => void): Promise<TunnelAttachment>;
}

export interface TunnelHubOptions {
  openTimeoutMs: number;
  maxTunnelsPerSession: number;
  logger: Logger;
  /** Told when a session's sandbox goes away (its previews end with it). */
  onDetach?: (sessionId: string) => void;
}

/** The tunnel sockets of every live sandbox, by session id. */
export class TunnelHub implements TunnelAttacher {
  private readonly sockets = new Map<string, TunnelSocket>();

  constructor(private readonly o: TunnelHubOptions) {}

  async attach(sessionId: string, runDir: string, send: (frame: BerthdFrame) => void): Promise<TunnelAttachment> {
    const socket = new TunnelSocket({
      path: join(runDir, 'tunnel.sock'),
      sessionId,
      send,
      openTimeoutMs: this.o.openTimeoutMs,
      maxTunnels: this.o.maxTunnelsPerSession,
      logger: this.o.logger.child({ sessionId }),
    });
    await socket.listen();
    this.sockets.set(sessionId, socket);
    return {
      close: async () => {
        if (this.sockets.get(sessionId) === socket) this.sockets.delete(sessionId);
        this.o.onDetach?.(sessionId);
        await socket.close();
      },
    };
  }

  /** True while the session has a sandbox with a tunnel socket. */
  has(sessionId: string): boolean {
    return this.sockets.has(sessionId);
  }

  /** Tunnels open for the session (0 when it has no sandbox). */
  count(sessionId: string): number {
    return this.sockets.get(sessionId)?.count ?? 0;
  }

  /** A relayed connection to `port` in the session's sandbox; rejects with a {@link TunnelError}. */
  open(sessionId: string, port: number): Promise<Socket> {
    const s = this.sockets.get(sessionId);
    if (!s) return Promise.reject(new TunnelError('closed', 'the session has no running sandbox'));
    return s.open(port);
  }
}
