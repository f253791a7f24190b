import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

/** Longest stderr kept for an error message. */
const MAX_STDERR = 4096;

/**
 * Extracts the tar `file` into `cwd` with GNU tar, run as `uid`:`gid` (the new sandbox's own ids), stripping the
 * archive's top directory and keeping its permission bits. Returns false when GNU tar is not installed (the caller
 * falls back to node-tar); throws when tar fails.
 *
 * Why this is safe with a sandbox's files: the archive is read by berthd (root) and fed on stdin, so tar needs no
 * access to the blob store; tar runs with the sandbox's uid and no supplementary groups, so it can write only where
 * that sandbox's own processes could; and GNU tar itself refuses members with `..` or an absolute name and never
 * writes through a symlink it extracted (it creates such links last, as placeholders until then). Node's spawn
 * changes into `cwd` before dropping to the uid, so the sandbox directory's root-only parents are no obstacle.
 *
 * Why not node-tar: restoring a 100 MB, 3000-file workspace took ~3 s with node-tar on a busy 2-core host, several
 * times what GNU tar takes (docs/benchmarks.md B7).
 */
export async function extractAsSandbox(file: string, cwd: string, uid: number, gid: number): Promise<boolean> {
  const child = spawn('tar', ['-x', '-p', '--no-same-owner', '--strip-components=1', '-f', '-'], {
    cwd,
    uid,
    gid,
    env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < MAX_STDERR) stderr += d.toString('utf8');
  });
  const exited = new Promise<number | 'missing'>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve('missing') : reject(err)));
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  // tar may exit early (an error); its stdin then closes under the copy, which must not hide tar's own message.
  const fed = pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), child.stdin).catch(
    (err: unknown) => err,
  );
  const code = await exited;
  if (code === 'missing') return false;
  const feedError = await fed;
  if (code !== 0) throw new Error(`tar exited with ${code}: ${stderr.trim().slice(0, 500) || 'no message'}`);
  if (feedError) throw feedError as Error;
  return true;
}
