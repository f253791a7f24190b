import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';

/** Longest stderr kept for an error message. */
const MAX_STDERR = 4096;

/**
 * Extracts the tar `file` into `cwd` with GNU tar, run as `uid`:`gid` (the new sandbox's own ids), stripping the
 * archive's top directory and keeping its permission bits. Returns false when GNU tar is not installed (the caller
 * falls back to node-tar); throws when tar fails.
 *
 * Why this is safe with a sandbox's files: berthd (root) opens the archive and hands tar the open descriptor as its
 * stdin, so tar needs no access to the blob store; tar runs with the sandbox's uid and no supplementary groups
 * (Node drops them when it changes the uid), so it can write only where that sandbox's own processes could; and GNU
 * tar itself refuses members with `..` or an absolute name and never writes through a symlink it extracted (such
 * links are created last, as placeholders until then). Node's spawn changes into `cwd` before dropping to the uid,
 * so the sandbox directory's root-only parents are no obstacle.
 *
 * Why not node-tar: it spends about 1.7× the CPU time on a 100 MB, 3000-file workspace (docs/benchmarks.md B7s),
 * and CPU is what a busy host lacks.
 */
export async function extractAsSandbox(file: string, cwd: string, uid: number, gid: number): Promise<boolean> {
  // berthd opens the archive; tar gets the descriptor as its stdin and reads the file itself (no pipe through
  // berthd: on a busy host every pipe hand-over between the two processes waits for a time slice).
  const archive = await open(file, 'r');
  let exited: Promise<number | 'missing'>;
  let stderr = '';
  try {
    const child = spawn('tar', ['-x', '-p', '--no-same-owner', '--strip-components=1', '-f', '-'], {
      cwd,
      uid,
      gid,
      env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
      stdio: [archive.fd, 'ignore', 'pipe'],
    });
    // Listeners first, before any await: a small archive's tar can be done before the descriptor is closed.
    exited = new Promise((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve('missing') : reject(err)));
      child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < MAX_STDERR) stderr += d.toString('utf8');
    });
  } finally {
    // The child has its own copy of the descriptor (or never started).
    await archive.close();
  }
  const code = await exited;
  if (code === 'missing') return false;
  if (code !== 0) throw new Error(`tar exited with ${code}: ${stderr.trim().slice(0, 500) || 'no message'}`);
  return true;
}
