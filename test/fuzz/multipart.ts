import fc from 'fast-check';
import { hostileString, traversal } from './values.js';

/** A body plus the content-type that goes with it (which may itself be wrong). */
export interface TypedBody {
  contentType?: string;
  body?: Buffer;
}

const filename = fc.oneof(
  fc.constantFrom('a.txt', 'x', '.', '..', '', 'a"b.txt', 'a\r\nX-Evil: 1', 'é.txt', '\u0000.txt', ...traversal),
  hostileString.map((s) => s.slice(0, 300)),
  fc.integer({ min: 250, max: 600 }).map((n) => 'f'.repeat(n)),
);

const part = fc.record({
  name: fc.constantFrom('file', 'files', 'expires_in_seconds', 'purpose', '', '__proto__', 'file"'),
  filename: fc.option(filename, { nil: undefined }),
  type: fc.option(fc.constantFrom('text/plain', 'application/json', 'image/png', '', 'x/../../y', 'a;b=c'), {
    nil: undefined,
  }),
  content: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(0))),
});

/**
 * multipart/form-data for POST /v1/files: hostile part names and filenames, several parts, missing or wrong
 * boundaries, truncation. Valid uploads happen too (a few hundred small files at most).
 */
export const multipartBody: fc.Arbitrary<TypedBody> = fc
  .record({
    parts: fc.array(part, { minLength: 0, maxLength: 3 }),
    boundary: fc.constantFrom('fuzzBoundary123', 'x', '', '--', 'a b', '"q"'),
    header: fc.constantFrom('ok', 'noBoundary', 'otherBoundary', 'wrongType'),
    truncate: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
  })
  .map(({ parts, boundary, header, truncate }) => {
    const b = boundary || 'fuzzBoundary123';
    const chunks: Buffer[] = [];
    for (const p of parts) {
      const fn = p.filename === undefined ? '' : `; filename="${p.filename}"`;
      const ct = p.type === undefined ? '' : `\r\nContent-Type: ${p.type}`;
      chunks.push(Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="${p.name}"${fn}${ct}\r\n\r\n`));
      chunks.push(Buffer.from(p.content), Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from(`--${b}--\r\n`));
    let body = Buffer.concat(chunks);
    if (truncate !== undefined) body = body.subarray(0, truncate);
    const contentType = {
      ok: `multipart/form-data; boundary=${boundary}`,
      noBoundary: 'multipart/form-data',
      otherBoundary: 'multipart/form-data; boundary=notTheOne',
      wrongType: 'application/json',
    }[header];
    return { contentType, body };
  });

/** Raw bytes for the workspace upload (PUT …/files/content), with the right or a wrong content-type. */
export const octetBody: fc.Arbitrary<TypedBody> = fc.record({
  contentType: fc.constantFrom('application/octet-stream', 'application/json', 'text/plain', undefined),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 500 }).map((a) => Buffer.from(a)),
    fc.constant(undefined),
    fc.constant(Buffer.alloc(0)),
  ),
});
