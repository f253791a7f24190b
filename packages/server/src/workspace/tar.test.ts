import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SafeRoot } from './safe-path.js';
import { tarStream } from './tar.js';

/** Parses a tar buffer into path → {type, mode, linkpath, body}. */
async function entriesOf(buf: Buffer) {
  const out = new Map<string, { type: string; mode: number; linkpath?: string; body: string }>();
  const p = new Parser({
    onReadEntry: (e) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () =>
        out.set(e.path, {
          type: e.type,
          mode: e.mode ?? 0,
          linkpath: e.header.linkpath,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    },
  });
  await new Promise<void>((res, rej) => {
    p.on('end', res);
    p.on('error', rej);
    p.end(buf);
  });
  return out;
}

describe('tarStream', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-tar-'));
    const ws = join(dir, 'ws');
    mkdirSync(join(ws, 'a', 'b'), { recursive: true });
    writeFileSync(join(ws, 'a', 'b', 'f.txt'), 'deep\n');
    writeFileSync(join(ws, 'suid'), '#!/bin/sh\n');
    chmodSync(join(ws, 'suid'), 0o4755);
    symlinkSync('/etc', join(ws, 'etc'));
    execFileSync('mkfifo', [join(ws, 'fifo')]);
    writeFileSync(join(ws, `${'n'.repeat(120)}.txt`), 'long name\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('archives files and directories, stores symlinks as links, skips FIFOs, strips setuid', async () => {
    const root = await SafeRoot.open(join(dir, 'ws'));
    const chunks: Buffer[] = [];
    for await (const c of tarStream(root, [], 'ws')) chunks.push(c as Buffer);
    const buf = Buffer.concat(chunks);
    expect(buf.length % 512).toBe(0);
    const e = await entriesOf(buf);
    expect(e.get('ws/a/b/f.txt')).toMatchObject({ type: 'File', body: 'deep\n' });
    expect(e.get('ws/a/b/')).toMatchObject({ type: 'Directory' });
    expect(e.get('ws/etc')).toMatchObject({ type: 'SymbolicLink', linkpath: '/etc' });
    expect([...e.keys()].some((k) => k.startsWith('ws/etc/'))).toBe(false);
    expect(e.has('ws/fifo')).toBe(false);
    expect(e.get('ws/suid')!.mode & 0o7000).toBe(0);
    expect(e.get(`ws/${'n'.repeat(120)}.txt`)).toMatchObject({ body: 'long name\n' }); // via a pax header
  });
});
