import { constants, type Stats } from 'node:fs';
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

/** Directory entries looked at together: their lstat, and the content of the small files among them, in parallel. */
const BATCH = 32;
/** Files up to this size are read whole, in parallel with their neighbours (a workspace of many small files). */
const SMALL = 256 * 1024;

async function* walk(dir: FileHandle, prefix: string, depth: number): AsyncGenerator<Buffer> {
  const names: string[] = [];
  for await (const d of await opendir(at(dir))) names.push(d.name);
  names.sort();
  // Entries stay in name order; batching only overlaps the system calls (each a thread-pool round trip). At most
  // BATCH small files are held at once, and never across a subdirectory's walk.
  for (let i = 0; i < names.length; i += BATCH) {
    const slice = names.slice(i, i + BATCH);
    const stats = await Promise.all(slice.map((n) => lstat(at(dir, n)).catch(() => undefined)));
    let j = 0;
    while (j < slice.length) {
      let k = j;
      while (k < slice.length && stats[k]?.isFile() && stats[k]!.size <= SMALL) k++;
      if (k === j) {
        yield* entry(dir, `${prefix}/${slice[j]!}`, slice[j]!, stats[j], depth);
        j++;
        continue;
      }
      const bodies = await Promise.all(slice.slice(j, k).map((n) => readSmall(dir, n)));
      // The run's headers and bodies go downstream as one buffer: per-chunk stream overhead dominated otherwise.
      let out: Buffer[] = [];
      for (let m = 0; m < bodies.length; m++) {
        const name = slice[j + m]!;
        const st = stats[j + m]!;
        const data = bodies[m];
        if (data === 'large') {
          if (out.length) yield Buffer.concat(out);
          out = [];
          yield* entry(dir, `${prefix}/${name}`, name, st, depth);
        } else if (data) {
          const base = { path: `${prefix}/${name}`, mode: st.mode & 0o777, mtime: st.mtime, uid: 0, gid: 0 };
          out.push(...header({ ...base, type: 'File', size: data.length }));
          if (data.length) out.push(data);
          const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
          if (pad) out.push(Buffer.alloc(pad));
        }
      }
      if (out.length) yield Buffer.concat(out);
      j = k;
    }
  }
}

/**
 * A small regular file's whole content (its size fixed by fstat of the open handle; zeros where it shrank
 * meanwhile), 'large' when it grew past SMALL (streamed instead), undefined when it is gone or no longer a file.
 */
async function readSmall(dir: FileHandle, name: string): Promise<Buffer | 'large' | undefined> {
  const file = await open(at(dir, name), FILE_FLAGS).catch(() => undefined);
  if (!file) return undefined;
  try {
    const fst = await file.stat();
    if (!fst.isFile()) return undefined; // swapped meanwhile
    if (fst.size > SMALL) return 'large';
    const data = Buffer.alloc(fst.size);
    let off = 0;
    while (off < data.length) {
      const { bytesRead } = await file.read(data, off, data.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return data;
  } finally {
    await file.close();
  }
}

/** One entry of `dir`, archived as `path`: a symlink as a link, a directory walked, a file streamed. */
async function* entry(
  dir: FileHandle,
  path: string,
  name: string,
  st: Stats | undefined,
  depth: number,
): AsyncGenerator<Buffer> {
  if (!st) return;
  const base = { path, mode: st.mode & 0o777, mtime: st.mtime, uid: 0, gid: 0 };
  if (st.isSymbolicLink()) {
    const target = await readlink(at(dir, name)).catch(() => undefined);
    if (target !== undefined) yield* header({ ...base, type: 'SymbolicLink', linkpath: target, size: 0 });
  } else if (st.isDirectory()) {
    if (depth >= MAX_DEPTH) return;
    const child = await open(at(dir, name), DIR_FLAGS).catch(() => undefined);
    if (!child) return; // swapped for a symlink or removed meanwhile: not followed
    try {
      yield* header({ ...base, path: `${path}/`, type: 'Directory', size: 0 });
      yield* walk(child, path, depth + 1);
    } finally {
      await child.close();
    }
  } else if (st.isFile()) {
    const file = await open(at(dir, name), FILE_FLAGS).catch(() => undefined);
    if (!file) return;
    try {
      const fst = await file.stat();
      if (!fst.isFile()) return; // swapped meanwhile
      yield* header({ ...base, type: 'File', size: fst.size });
      yield* body(file, fst.size);
    } finally {
      await file.close();
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
