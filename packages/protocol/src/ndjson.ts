import { MAX_FRAME_BYTES } from './control.js';

/** Thrown when a peer sends a line longer than the frame limit; the connection should be closed. */
export class FrameTooLargeError extends Error {}

/**
 * Splits a byte stream into newline-delimited JSON values. Partial lines are buffered across chunks; a line over
 * `maxBytes` throws FrameTooLargeError. Lines that are not JSON are returned as `{ invalid: line }` entries so the
 * caller can log and drop them without losing the connection.
 */
export class NdjsonDecoder {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Array<{ value: unknown } | { invalid: string }> {
    const out: Array<{ value: unknown } | { invalid: string }> = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      this.check(piece.length);
      const line = (this.parts.length ? Buffer.concat([...this.parts, piece]) : piece).toString('utf8');
      this.parts = [];
      this.size = 0;
      start = nl + 1;
      if (line.trim() === '') continue;
      try {
        out.push({ value: JSON.parse(line) as unknown });
      } catch {
        out.push({ invalid: line.slice(0, 200) });
      }
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(rest.length);
      this.parts.push(Buffer.from(rest));
      this.size += rest.length;
    }
    return out;
  }

  private check(extra: number): void {
    if (this.size + extra > this.maxBytes) {
      this.parts = [];
      this.size = 0;
      throw new FrameTooLargeError(`frame larger than ${this.maxBytes} bytes`);
    }
  }
}

/** One frame on the wire. */
export function encodeFrame(frame: object): string {
  return JSON.stringify(frame) + '\n';
}
