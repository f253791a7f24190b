import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import {
  FrameDecoder,
  FrameTooLargeError,
  MAX_FRAME_BYTES,
  RunnerFrameSchema,
  encodeFrame,
  type BerthdFrame,
  type RunnerFrame,
} from '@berth/protocol';
import type { Logger } from '../logger.js';

export interface ControlHandlers {
  /** A runner connected (or reconnected) and said hello. */
  onHello(frame: Extract<RunnerFrame, { type: 'hello' }>): void | Promise<void>;
  /** A validated frame other than hello. Handlers run one at a time, in arrival order. */
  onFrame(frame: Exclude<RunnerFrame, { type: 'hello' }>): Promise<void>;
  /** The runner's connection closed. */
  onDisconnect(): void;
}

/**
 * berthd's end of one sandbox's control socket. Only the runner of that sandbox can reach the socket (it is
 * bind-mounted into that sandbox alone), so connecting identifies the sandbox; every frame is still validated, as
 * anything coming out of a sandbox is untrusted. A new connection replaces the previous one (runner reconnects).
 */
export class ControlServer {
  private server: Server | undefined;
  private socket: Socket | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Connections whose event could not be stored: nothing more of them is handled (the runner re-sends). */
  private readonly poisoned = new WeakSet<Socket>();

  constructor(
    private readonly path: string,
    private readonly handlers: ControlHandlers,
    private readonly logger: Logger,
  ) {}

  async listen(): Promise<void> {
    await rm(this.path, { force: true });
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    // The sandbox user is a different uid; the directory above the socket is what protects it on the host.
    await chmod(this.path, 0o666);
    this.server = server;
  }

  /** True while a runner is connected. */
  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  /** Sends a frame; returns false when no runner is connected (the caller re-sends after the next hello). */
  send(frame: BerthdFrame): boolean {
    const s = this.socket;
    if (!s || s.destroyed) return false;
    s.write(encodeFrame(frame, MAX_FRAME_BYTES));
    return true;
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    this.socket = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.path, { force: true });
  }

  private accept(socket: Socket): void {
    if (this.socket && !this.socket.destroyed) {
      this.logger.warn('runner reconnected; dropping the previous connection');
      this.socket.destroy();
    }
    this.socket = socket;
    const decoder = new FrameDecoder(MAX_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = decoder.push(chunk);
      } catch (err) {
        if (err instanceof FrameTooLargeError) this.logger.warn('runner sent an oversized frame; closing');
        socket.destroy();
        return;
      }
      for (const line of lines) {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          this.logger.warn({ line: line.slice(0, 200) }, 'runner sent a line that is not JSON; dropped');
          continue;
        }
        const parsed = RunnerFrameSchema.safeParse(value);
        if (!parsed.success) {
          this.logger.warn({ issues: parsed.error.issues.slice(0, 3) }, 'runner sent an invalid frame; dropped');
          continue;
        }
        this.dispatch(socket, parsed.data);
      }
    });
    socket.on('error', (err) => this.logger.debug({ err }, 'control socket error'));
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = undefined;
        this.handlers.onDisconnect();
      }
    });
  }

  private dispatch(socket: Socket, frame: RunnerFrame): void {
    // Frames are handled strictly in order, so acks and persistence follow the runner's seq order.
    this.queue = this.queue.then(async () => {
      if (socket !== this.socket || this.poisoned.has(socket)) return;
      try {
        if (frame.type === 'hello') await this.handlers.onHello(frame);
        else await this.handlers.onFrame(frame);
      } catch (err) {
        if (frame.type !== 'event') {
          this.logger.error({ err, frame: frame.type }, 'handling a runner frame failed');
          return;
        }
        // An event that could not be stored (e.g. a full disk) must not be skipped: a later event's ack would cover
        // it and the runner would drop it. Dropping the connection makes the runner reconnect and re-send everything
        // unacknowledged, in order, after its next welcome.
        this.logger.error({ err, seq: frame.seq }, 'could not store a runner event; the runner will re-send it');
        this.poisoned.add(socket);
        socket.destroy();
      }
    });
  }
}
