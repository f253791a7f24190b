import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { CLI } from './cli-run.js';
import { waitFor } from './procs.js';

/** A loopback port free right now. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

export interface BerthdProcessOptions {
  dataDir: string;
  port: number;
  /** Directory of the scripted model's scenarios. */
  scenarios: string;
  adminKey: string;
  /** First host uid of the 16 this berthd may give sandboxes. */
  uidStart: number;
  /** More `berth serve` flags. */
  extra?: string[];
  /** Receives berthd's log (stderr) as it comes, besides this process's stderr. */
  onLog?: (text: string) => void;
}

/**
 * Starts `berth serve` as a separate process (what crash tests kill with SIGKILL), with the scripted model, on a
 * fixed vault master key so a restarted berthd opens what the first one sealed; resolves once it listens. The
 * caller owns the process (and kills it in its afterAll).
 */
export async function startBerthdProcess(o: BerthdProcessOptions): Promise<ChildProcess> {
  const args = [
    CLI,
    'serve',
    '--data-dir',
    o.dataDir,
    '--port',
    String(o.port),
    '--scripted-model',
    '--scenarios',
    o.scenarios,
    '--admin-key',
    o.adminKey,
    '--uid-range-start',
    String(o.uidStart),
    '--uid-range-count',
    '16',
    '--log-level',
    process.env.BERTH_TEST_LOG ?? 'warn',
    ...(o.extra ?? []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BERTH_VAULT_MASTER_KEY: 'A'.repeat(43) + '=' },
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => {
    process.stderr.write(b);
    o.onLog?.(b.toString());
  });
  if (!(await waitFor(() => out.includes('berthd listening'), 60_000))) {
    child.kill('SIGKILL');
    throw new Error(`berthd did not start: ${out}`);
  }
  return child;
}
