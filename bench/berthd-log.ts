import { Writable } from 'node:stream';

/** One berthd log line as parsed JSON, with when it arrived (performance.now()). */
export type LogLine = { at: number; msg?: string; [k: string]: unknown };

/**
 * A pino destination that keeps berthd's lines in memory, so a benchmark can read the phase times berthd logs
 * ("snapshot saved", "session hibernated", "sandbox ready", "agent ready"). Lines at warn and above are also
 * echoed to stderr.
 */
export class LogTap extends Writable {
  readonly lines: LogLine[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const at = performance.now();
    for (const text of chunk.toString('utf8').split('\n')) {
      if (!text) continue;
      try {
        const line = { ...(JSON.parse(text) as object), at } as LogLine;
        this.lines.push(line);
        if (typeof line.level === 'number' && line.level >= 40) process.stderr.write(`${text}\n`);
      } catch {
        process.stderr.write(`${text}\n`);
      }
    }
    cb();
  }

  /** Lines logged since `mark` (an index from {@link mark}) with message `msg` about `sessionId`. */
  find(mark: number, msg: string, sessionId: string): LogLine | undefined {
    return this.lines.slice(mark).find((l) => l.msg === msg && l.sessionId === sessionId);
  }

  mark(): number {
    return this.lines.length;
  }
}
