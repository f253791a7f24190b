import net from 'node:net';
import type { Logger } from '../log.js';
import { FrameDecoder, FrameTooLargeError } from '@berth/protocol/wire';

/** Reconnect delays: the first retry is quick (berthd restarts fast), later ones back off. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 50, maxMs: 2000 };

/** Options for {@link ControlClient}. */
export interface ControlClientOptions {
  socketPath: string;
  log: Logger;
  maxFrameBytes: number;
  backoff?: Backoff;
  /** Called on every (re)connect, before any line is delivered; the owner sends `hello` here. */
  onConnect: () => void;
  onDisconnect?: () => void;
}

/**
 * The raw control connection: connects to berthd's unix socket, splits incoming NDJSON lines, and reconnects
 * with exponential backoff whenever the connection drops or cannot be made (berthd may be restarting). It knows
 * nothing about frame meaning; {@link ControlChannel} does.
 */
export class ControlClient {
  private socket: net.Socket | null = null;
  private isConnected = false;
  private closed = false;
  private delayMs: number;
  private timer: NodeJS.Timeout | null = null;
  private handler: ((line: string) => void) | null = null;
  // Lines that arrived before a handler was installed (the runner core loads after hello is sent).
  private early: string[] = [];
  private readonly backoff: Backoff;

  constructor(private readonly opts: ControlClientOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.delayMs = this.backoff.initialMs;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Starts connecting (and keeps reconnecting until {@link close}). */
  start(): void {
    this.connect();
  }

  /** Installs the line handler and delivers any lines that arrived before it. */
  setLineHandler(handler: (line: string) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const line of early) handler(line);
  }

  /** Writes one encoded frame line. Returns false when not connected (the caller keeps it for re-send). */
  write(line: string): boolean {
    if (!this.isConnected || !this.socket) return false;
    this.socket.write(line);
    return true;
  }

  /** Stops reconnecting and closes the connection after flushing what was written. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const s = this.socket;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.destroy();
        resolve();
      }, 1000);
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.end();
    });
  }

  /** Drops the current connection (tests use it to simulate berthd going away); reconnects as usual. */
  dropConnection(): void {
    this.socket?.destroy();
  }

  private connect(): void {
    if (this.closed) return;
    const decoder = new FrameDecoder(this.opts.maxFrameBytes);
    const socket = net.createConnection(this.opts.socketPath);
    this.socket = socket;
    socket.on('connect', () => {
      this.isConnected = true;
      this.opts.log.info('control connected', { socket: this.opts.socketPath });
      this.opts.onConnect();
    });
    socket.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = decoder.push(chunk);
      } catch (err) {
        if (!(err instanceof FrameTooLargeError)) throw err;
        this.opts.log.error('control frame too large; closing the connection', { bytes: err.bytes, limit: err.limit });
        socket.destroy();
        return;
      }
      if (lines.length > 0) this.delayMs = this.backoff.initialMs; // berthd is talking: reset the backoff
      for (const line of lines) {
        if (this.handler) this.handler(line);
        else this.early.push(line);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // ENOENT/ECONNREFUSED are expected while berthd is down; 'close' follows and schedules the retry.
      const expected = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
      this.opts.log[expected ? 'debug' : 'warn']('control socket error', { code: err.code, message: err.message });
    });
    socket.on('close', () => {
      const wasConnected = this.isConnected;
      this.isConnected = false;
      if (this.socket === socket) this.socket = null;
      if (wasConnected && !this.closed) {
        this.opts.log.warn('control connection lost; reconnecting');
        this.opts.onDisconnect?.();
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }
}
