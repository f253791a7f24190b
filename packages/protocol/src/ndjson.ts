/**
 * NDJSON framing for the control socket: one JSON value per line. Bytes are buffered until a newline arrives, so
 * a frame split across chunks (even inside a multi-byte UTF-8 character) decodes correctly. Free of zod and of any
 * other import: the runner loads it on its start-up fast path (via `@berth/protocol/wire`).
 */

/** Maximum size of one frame (bytes, excluding the newline). Larger frames close the connection. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Thrown when a frame exceeds the limit; the protocol says the connection is then closed. */
export class FrameTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`frame of at least ${bytes} bytes exceeds the ${limit}-byte limit`);
    this.name = 'FrameTooLargeError';
  }
}

const NEWLINE = 0x0a;

/** Splits a byte stream into lines (frames without the newline). Empty lines are skipped. */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Feeds a chunk; returns the complete lines it finished. Throws {@link FrameTooLargeError}. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const size = this.pendingBytes + (nl - start);
      if (size > this.maxBytes) throw new FrameTooLargeError(size, this.maxBytes);
      const piece = chunk.subarray(start, nl);
      const line = this.pendingBytes === 0 ? piece : Buffer.concat([...this.pending, piece]);
      this.pending = [];
      this.pendingBytes = 0;
      if (line.length > 0) lines.push(line.toString('utf8'));
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingBytes += rest.length;
      // Fail as soon as an unfinished frame is too big, rather than buffering up to the peer's whim.
      if (this.pendingBytes > this.maxBytes) throw new FrameTooLargeError(this.pendingBytes, this.maxBytes);
      this.pending.push(Buffer.from(rest)); // copy: the socket may reuse its chunk buffer
    }
    return lines;
  }
}

/** Encodes one frame as a line. Throws {@link FrameTooLargeError} when it would exceed `maxBytes`. */
export function encodeFrame(frame: unknown, maxBytes: number): string {
  const json = JSON.stringify(frame);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new FrameTooLargeError(bytes, maxBytes);
  return json + '\n';
}
