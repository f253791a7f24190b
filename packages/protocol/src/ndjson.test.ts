import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from './ndjson.js';

describe('FrameDecoder', () => {
  it('joins a frame split across chunks, even inside a multi-byte character', () => {
    const d = new FrameDecoder(1024);
    const bytes = Buffer.from('{"t":"héllo €"}\n');
    const lines: string[] = [];
    for (let i = 0; i < bytes.length; i++) lines.push(...d.push(bytes.subarray(i, i + 1)));
    expect(lines).toEqual(['{"t":"héllo €"}']);
  });

  it('splits merged frames and skips empty lines', () => {
    const d = new FrameDecoder(1024);
    expect(d.push(Buffer.from('{"a":1}\n\n{"b":2}\n{"c"'))).toEqual(['{"a":1}', '{"b":2}']);
    expect(d.push(Buffer.from(':3}\n'))).toEqual(['{"c":3}']);
  });

  it('rejects a frame over the limit, complete or still arriving', () => {
    expect(() => new FrameDecoder(8).push(Buffer.from('123456789\n'))).toThrow(FrameTooLargeError);
    const d = new FrameDecoder(8);
    d.push(Buffer.from('12345'));
    expect(() => d.push(Buffer.from('6789'))).toThrow(FrameTooLargeError);
  });

  it('accepts a frame of exactly the limit', () => {
    expect(new FrameDecoder(8).push(Buffer.from('12345678\n'))).toEqual(['12345678']);
  });
});

describe('encodeFrame', () => {
  it('adds the newline and enforces the limit in bytes', () => {
    expect(encodeFrame({ a: 1 }, 100)).toBe('{"a":1}\n');
    expect(() => encodeFrame({ t: '€€€' }, 12)).toThrow(FrameTooLargeError);
  });
});
