import { constants } from 'node:fs';
import { lstat, open, opendir, readlink, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Header, Pax, type HeaderData } from 'tar';
import { MAX_DEPTH } from './ops.js';
import { at, type SafeRoot } from './safe-path.js';

const BLOCK = 512;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const FILE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A tar stream (ustar + pax for long names) of the directory `parts`, entries named relative to it under `prefix`.
 * Built here from `tar`'s header encoders rather than `tar.c()`, because `tar.c()` walks by path and a sandbox
 * could swap a directory for a symlink between its lstat and its readdir. This walk opens every directory and file
 * relative to its already-opened parent with O_NOFOLLOW: symlinks are archived as symlinks, FIFOs, sockets and
 * devices are skipped, and each file's size is fixed by fstat of the open handle (a file that grows meanwhile is cut
 * there, one that shrinks is padded with zeros), so the archive is always well-formed. Modes keep only the
 * permission bits (no setuid, setgid or sticky bit from the sandbox reaches whoever extracts the archive).
 */
export function tarStream(root: SafeRoot, parts: string[], prefix: string): Readable {
  return Readable.from(generate(root, parts, prefix), { objectMode: false });
}

async function* generate(root: SafeRoot, parts: string[], prefix: string): AsyncGenerator<Buffer> {
  const dir = await root.openDir(parts);
  try {
    const st = await dir.stat();
    yield* header({ path: `${prefix}/`, type: 'Directory', mode: st.mode & 0o777, mtime: st.mtime, size: 0 });
    yield* walk(dir, prefix, 0);
  } finally {
    await dir.close();
  }
  yield Buffer.alloc(BLOCK * 2);
}

async function* walk(dir: FileHandle, prefix: string, depth: number): AsyncGenerator<Buffer> {
  const names: string[] = [];
  for await (const d of await opendir(at(dir))) names.push(d.name);
  names.sort();
  for (const name of names) {
    const path = `${prefix}/${name}`;
    const st = await lstat(at(dir, name)).catch(() => undefined);
    if (!st) continue;
    const base = { path, mode: st.mode & 0o777, mtime: st.mtime, uid: 0, gid: 0 };
    if (st.isSymbolicLink()) {
      const target = await readlink(at(dir, name)).catch(() => undefined);
      if (target !== undefined) yield* header({ ...base, type: 'SymbolicLink', linkpath: target, size: 0 });
    } else if (st.isDirectory()) {
      if (depth >= MAX_DEPTH) continue;
      const child = await open(at(dir, name), DIR_FLAGS).catch(() => undefined);
      if (!child) continue; // swapped for a symlink or removed meanwhile: not followed
      try {
        yield* header({ ...base, path: `${path}/`, type: 'Directory', size: 0 });
        yield* walk(child, path, depth + 1);
      } finally {
        await child.close();
      }
    } else if (st.isFile()) {
      const file = await open(at(dir, name), FILE_FLAGS).catch(() => undefined);
      if (!file) continue;
      try {
        const fst = await file.stat();
        if (!fst.isFile()) continue; // swapped meanwhile
        yield* header({ ...base, type: 'File', size: fst.size });
        yield* body(file, fst.size);
      } finally {
        await file.close();
      }
    }
  }
}

function* header(data: HeaderData): Generator<Buffer> {
  const h = new Header(data);
  if (h.encode()) {
    // Names or sizes that ustar cannot hold go in a pax extended header first.
    yield new Pax({ ...data, atime: undefined, ctime: undefined }).encode();
    h.encode();
  }
  yield h.block!;
}

/** Read size for file bodies: large enough that a 100 MB file is ~100 reads, not ~1600 (hibernation snapshots). */
const CHUNK = 1024 * 1024;

async function* body(file: FileHandle, size: number): AsyncGenerator<Buffer> {
  let left = size;
  while (left > 0) {
    // A fresh buffer per read (handed downstream without a copy); only the bytes read are ever yielded.
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
    const { bytesRead } = await file.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    left -= bytesRead;
    yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  }
  if (left > 0) yield Buffer.alloc(left); // shrank meanwhile: keep the declared size
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  if (pad) yield Buffer.alloc(pad);
}
