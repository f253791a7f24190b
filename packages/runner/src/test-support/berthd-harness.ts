import net from 'node:net';
import {
  BerthdFrameSchema,
  RunnerFrameSchema,
  type BerthdFrame,
  type RunnerEvent,
  type RunnerFrame,
} from '@berth/protocol';
import { FrameDecoder } from '@berth/protocol/wire';

type EventFrame = Extract<RunnerFrame, { type: 'event' }>;
type HelloFrame = Extract<RunnerFrame, { type: 'hello' }>;

/**
 * TEST HARNESS, NOT BERTHD: a minimal stand-in for berthd's side of one sandbox, for the runner's integration
 * tests. It serves the control socket (hello → welcome, persist-then-ack of events, sending frames) and the
 * model socket (relayed to the scripted model's TCP port). "Persisting" is keeping events in memory in seq
 * order; `holdAcks` simulates a berthd that received events but had not persisted them when it went away.
 */
export class TestBerthd {
  /** Every valid frame received, in arrival order (re-sends included). */
  readonly frames: RunnerFrame[] = [];
  /** Lines that failed RunnerFrameSchema: a runner bug. */
  readonly invalid: string[] = [];
  readonly hellos: HelloFrame[] = [];
  /** Events persisted per session, exactly once each, in seq order. */
  readonly persisted = new Map<string, EventFrame[]>();
  /** Event frames that arrived out of order (a seq gap): a runner bug. */
  readonly gaps: EventFrame[] = [];
  /** Re-sent event frames of already persisted seqs (harmless; counted for the reconnect test). */
  resent = 0;
  /** When true, events are received but neither persisted nor acked (they die with the connection). */
  holdAcks = false;
  private held: EventFrame[] = [];
  private conn: net.Socket | null = null;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly controlSocket: string,
    readonly modelSocket: string,
    private readonly control: net.Server,
    private readonly model: net.Server,
  ) {}

  /** Listens on `<dir>/control.sock` and `<dir>/model.sock` (relayed to `modelPort` on 127.0.0.1). */
  static async start(dir: string, modelPort: number): Promise<TestBerthd> {
    let self: TestBerthd | null = null;
    const control = net.createServer((s) => self!.accept(s));
    const model = net.createServer((s) => {
      const up = net.createConnection({ host: '127.0.0.1', port: modelPort });
      s.on('error', () => up.destroy());
      up.on('error', () => s.destroy());
      s.pipe(up);
      up.pipe(s);
    });
    const listen = (srv: net.Server, path: string) => new Promise<void>((r) => srv.listen(path, r));
    await Promise.all([listen(control, `${dir}/control.sock`), listen(model, `${dir}/model.sock`)]);
    self = new TestBerthd(`${dir}/control.sock`, `${dir}/model.sock`, control, model);
    return self;
  }

  get connected(): boolean {
    return this.conn !== null && !this.conn.destroyed;
  }

  /** Sends a frame to the runner (validated first: a test bug must not look like a runner bug). */
  send(frame: BerthdFrame): void {
    BerthdFrameSchema.parse(frame);
    if (!this.conn) throw new Error('runner not connected');
    this.conn.write(JSON.stringify(frame) + '\n');
  }

  /** Writes raw bytes to the runner, unvalidated (for malformed-input tests). */
  sendRaw(text: string): void {
    if (!this.conn) throw new Error('runner not connected');
    this.conn.write(text);
  }

  /** The persisted events of a session. */
  events(sessionId: string): RunnerEvent[] {
    return (this.persisted.get(sessionId) ?? []).map((f) => f.event);
  }

  /** Cuts the control connection (berthd "restarts"); held, unpersisted events are lost with it. */
  dropConnection(): void {
    this.held = [];
    this.conn?.destroy();
    this.conn = null;
  }

  /** Resolves with the first truthy value of `probe`, re-checked on every frame and every 50 ms. */
  waitFor<T>(probe: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v) {
          cleanup();
          resolve(v);
        }
      };
      const timer = setInterval(check, 50);
      const deadline = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearInterval(timer);
        clearTimeout(deadline);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    this.conn?.destroy();
    await Promise.all([this.control, this.model].map((s) => new Promise((r) => s.close(r))));
  }

  private accept(socket: net.Socket): void {
    this.conn?.destroy();
    this.conn = socket;
    const decoder = new FrameDecoder(4 * 1024 * 1024);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (const line of decoder.push(chunk)) this.receive(socket, line);
      for (const l of [...this.listeners]) l();
    });
  }

  private receive(socket: net.Socket, line: string): void {
    const parsed = RunnerFrameSchema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      this.invalid.push(line);
      return;
    }
    const frame = parsed.data;
    this.frames.push(frame);
    if (frame.type === 'hello') {
      this.hellos.push(frame);
      const sessions = frame.sessions.map((s) => ({ session_id: s.session_id, acked_seq: this.lastSeq(s.session_id) }));
      socket.write(JSON.stringify({ type: 'welcome', sessions }) + '\n');
    } else if (frame.type === 'event') {
      if (this.holdAcks) this.held.push(frame);
      else this.persist(socket, frame);
    }
  }

  private persist(socket: net.Socket, frame: EventFrame): void {
    const last = this.lastSeq(frame.session_id);
    if (frame.seq <= last) this.resent += 1;
    else if (frame.seq === last + 1) {
      const list = this.persisted.get(frame.session_id) ?? [];
      list.push(frame);
      this.persisted.set(frame.session_id, list);
    } else {
      this.gaps.push(frame);
      return;
    }
    socket.write(JSON.stringify({ type: 'ack', session_id: frame.session_id, seq: frame.seq }) + '\n');
  }

  private lastSeq(sessionId: string): number {
    return this.persisted.get(sessionId)?.at(-1)?.seq ?? 0;
  }
}
