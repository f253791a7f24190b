import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { c as create } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotStore } from './snapshots.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
// A uid no sandbox of this test process uses (BERTH_TEST_UID_BASE keeps parallel checkouts apart).
const UID = Number(process.env.BERTH_TEST_UID_BASE ?? 0) + 299_000 + (Number(process.env.VITEST_POOL_ID ?? 0) % 64);

describe.skipIf(process.getuid?.() !== 0)('SnapshotStore (needs root: files change owner)', () => {
  let dir: string;
  const target = (name: string) => {
    // Inside a root-only directory, like a sandbox's trees: the restore must not need access to the parents.
    const t = { workspaceDir: join(dir, name, 'ws'), homeDir: join(dir, name, 'home'), hostUid: UID };
    for (const d of [t.workspaceDir, t.homeDir]) {
      mkdirSync(d, { recursive: true });
      chownSync(d, UID, UID);
    }
    chmodSync(join(dir, name), 0o700);
    return t;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'snap-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('restores files, modes, symlinks and multi-megabyte bodies, owned by the new uid', async () => {
    const from = target('a');
    const big = randomBytes(2_500_000 + 17); // spans several 1 MiB reads, ends mid-block
    mkdirSync(join(from.workspaceDir, 'd', 'e'), { recursive: true });
    writeFileSync(join(from.workspaceDir, 'd', 'big.bin'), big);
    writeFileSync(join(from.workspaceDir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o750 });
    writeFileSync(join(from.workspaceDir, 'd', 'e', 'empty'), '');
    symlinkSync('/etc/passwd', join(from.workspaceDir, 'link'));
    mkdirSync(join(from.homeDir, '.claude', 'projects'), { recursive: true });
    writeFileSync(join(from.homeDir, '.claude', 'projects', 't.jsonl'), '{"turn":1}\n');
    const store = new SnapshotStore(join(dir, 'blobs'));

    const saved = await store.save('sesn_a1', from);
    expect(saved.bytes).toBeGreaterThan(big.length);
    expect(await store.has('sesn_a1')).toBe(true);
    const into = target('b');
    await store.restore('sesn_a1', into);

    expect(sha(readFileSync(join(into.workspaceDir, 'd', 'big.bin')))).toBe(sha(big));
    expect(statSync(join(into.workspaceDir, 'run.sh')).mode & 0o777).toBe(0o750);
    expect(readFileSync(join(into.workspaceDir, 'd', 'e', 'empty'), 'utf8')).toBe('');
    expect(lstatSync(join(into.workspaceDir, 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(into.workspaceDir, 'link'))).toBe('/etc/passwd');
    expect(readFileSync(join(into.homeDir, '.claude', 'projects', 't.jsonl'), 'utf8')).toBe('{"turn":1}\n');
    for (const p of ['d', 'd/big.bin', 'run.sh', 'd/e/empty', '.']) {
      expect(statSync(join(into.workspaceDir, p)).uid, p).toBe(UID);
    }
    expect(statSync(join(into.homeDir, '.claude', 'projects', 't.jsonl')).uid).toBe(UID);
  });

  it('refuses an archive that would write through a symlink, and writes nothing outside', async () => {
    // A tampered snapshot (the save never produces one): a link to a directory outside, then a file through it.
    const outside = join(dir, 'outside');
    mkdirSync(outside, { mode: 0o777 });
    chmodSync(outside, 0o777); // writable by the uid: only tar's own refusal can keep the file out
    const src = join(dir, 'src');
    mkdirSync(join(src, 'workspace'), { recursive: true });
    symlinkSync(outside, join(src, 'workspace', 'link'));
    const evil = join(dir, 'evil');
    mkdirSync(join(evil, 'workspace', 'link'), { recursive: true });
    writeFileSync(join(evil, 'workspace', 'link', 'pwned'), 'x');
    const blobs = join(dir, 'blobs', 'sesn_evil');
    mkdirSync(blobs, { recursive: true });
    // Two archives concatenated: the symlink first, then a file under the same name as a directory.
    const first = join(dir, 'first.tar');
    const second = join(dir, 'second.tar');
    await create({ file: first, cwd: src, portable: true }, ['workspace/link']);
    await create({ file: second, cwd: evil, portable: true }, ['workspace/link/pwned']);
    const a = readFileSync(first);
    const b = readFileSync(second);
    writeFileSync(join(blobs, 'workspace.tar'), Buffer.concat([a.subarray(0, a.length - 1024), b]));
    mkdirSync(join(dir, 'h', 'home'), { recursive: true });
    await create({ file: join(blobs, 'home.tar'), cwd: join(dir, 'h'), portable: true }, ['home']);

    const store = new SnapshotStore(join(dir, 'blobs'));
    const into = target('c');
    await expect(store.restore('sesn_evil', into)).rejects.toThrow(/tar exited with|Not a directory/);
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(outside, 'pwned'))).toBe(false);
  });
});
