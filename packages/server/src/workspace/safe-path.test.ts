import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listDir, openRegular, removeAt, TooLargeError, writeFileAt } from './ops.js';
import { SafeRoot, splitRelative, UnsafePathError } from './safe-path.js';

describe('splitRelative', () => {
  it('accepts normalised relative paths and the root', () => {
    expect(splitRelative('')).toEqual([]);
    expect(splitRelative('.')).toEqual([]);
    expect(splitRelative('a/b.txt')).toEqual(['a', 'b.txt']);
    expect(splitRelative('dir/')).toEqual(['dir']);
    expect(splitRelative('..a/b..')).toEqual(['..a', 'b..']);
  });
  it.each([
    '/etc/passwd',
    '../x',
    'a/../../x',
    'a/..',
    'a//b',
    './a',
    'a/./b',
    'a\0b',
    'x'.repeat(256),
    'a/'.repeat(2100),
  ])('refuses bad path #%#', (p) => {
    expect(() => splitRelative(p)).toThrow(UnsafePathError);
  });
});

describe('SafeRoot and workspace operations', () => {
  let dir: string;
  let outside: string;
  let root: SafeRoot;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-ws-'));
    outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'secret\n');
    const ws = join(dir, 'ws');
    mkdirSync(join(ws, 'sub'), { recursive: true });
    writeFileSync(join(ws, 'sub', 'a.txt'), 'a\n');
    symlinkSync(join(outside, 'secret'), join(ws, 'link'));
    symlinkSync(outside, join(ws, 'dirlink'));
    symlinkSync('sub', join(ws, 'rel'));
    execFileSync('mkfifo', [join(ws, 'fifo')]);
    root = await SafeRoot.open(ws);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const kind = async (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: unknown) => (e instanceof UnsafePathError ? e.kind : String(e)),
    );

  it('reads regular files and refuses symlinks, symlinked parents and FIFOs without blocking', async () => {
    const { file, size } = await openRegular(root, ['sub', 'a.txt']);
    expect(size).toBe(2);
    expect((await file.readFile()).toString()).toBe('a\n');
    await file.close();
    expect(await kind(openRegular(root, ['link']))).toBe('symlink');
    expect(await kind(openRegular(root, ['dirlink', 'secret']))).toBe('symlink');
    expect(await kind(openRegular(root, ['rel', 'a.txt']))).toBe('symlink');
    expect(await kind(openRegular(root, ['fifo']))).toBe('not_file');
    expect(await kind(openRegular(root, ['sub']))).toBe('is_directory');
    expect(await kind(openRegular(root, ['missing']))).toBe('not_found');
  });

  it('lists without following symlinks', async () => {
    const { entries, truncated } = await listDir(root, [], { recursive: true, max: 100 });
    expect(truncated).toBe(false);
    const types = Object.fromEntries(entries.map((e) => [e.path, e.type]));
    expect(types).toMatchObject({
      sub: 'directory',
      'sub/a.txt': 'file',
      link: 'symlink',
      dirlink: 'symlink',
      fifo: 'other',
    });
    expect(Object.keys(types).some((p) => p.startsWith('dirlink/'))).toBe(false);
    expect((await listDir(root, [], { recursive: true, max: 2 })).truncated).toBe(true);
    expect(await kind(listDir(root, ['dirlink'], { recursive: false, max: 10 }))).toBe('symlink');
  });

  it('writes atomically with the given owner, replaces a symlink instead of following it, enforces the limit', async () => {
    const n = await writeFileAt(
      root,
      ['new', 'deep', 'f.txt'],
      Readable.from([Buffer.from('hello')]),
      { uid: 4242, gid: 4243 },
      100,
    );
    expect(n).toBe(5);
    const st = statSync(join(root.real, 'new', 'deep', 'f.txt'));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([4242, 4243, 0o644]);
    expect(statSync(join(root.real, 'new')).uid).toBe(4242);
    await writeFileAt(root, ['link'], Readable.from([Buffer.from('over')]), { uid: 0, gid: 0 }, 100);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('secret\n');
    expect(readFileSync(join(root.real, 'link'), 'utf8')).toBe('over');
    expect(
      await kind(writeFileAt(root, ['dirlink', 'x'], Readable.from([Buffer.from('x')]), { uid: 0, gid: 0 }, 100)),
    ).toBe('symlink');
    expect(existsSync(join(outside, 'x'))).toBe(false);
    const big = writeFileAt(
      root,
      ['big'],
      Readable.from([Buffer.alloc(60), Buffer.alloc(60)]),
      { uid: 0, gid: 0 },
      100,
    );
    await expect(big).rejects.toBeInstanceOf(TooLargeError);
    expect((await listDir(root, [], { recursive: false, max: 100 })).entries.map((e) => e.path)).not.toContain('big');
    expect(
      (await listDir(root, [], { recursive: false, max: 100 })).entries.some((e) => e.path.startsWith('.berth-upload')),
    ).toBe(false);
  });

  it('removes files, links (not their targets) and trees; never through a symlinked parent', async () => {
    await removeAt(root, ['link'], false);
    expect(existsSync(join(outside, 'secret'))).toBe(true);
    expect(await kind(removeAt(root, ['dirlink', 'secret'], false))).toBe('symlink');
    await removeAt(root, ['dirlink'], true); // the link itself goes; its target stays
    expect(existsSync(join(outside, 'secret'))).toBe(true);
    expect(await kind(removeAt(root, ['sub'], false))).toBe('is_directory');
    await removeAt(root, ['sub'], true);
    expect(existsSync(join(root.real, 'sub'))).toBe(false);
    expect(await kind(removeAt(root, [], true))).toBe('invalid');
  });
});
