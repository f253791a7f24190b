import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId, SANDBOX_PATHS } from '@berth/protocol';
import type { ReadOnlyFile, SandboxDriver, SandboxInfo, SandboxResources, SharedPlacement } from '../driver.js';

/**
 * Prepended to every probe: `report(obj)` sends one JSON line to the test over the control socket in /run/berth,
 * the only way out of a sandbox. Probes are `node -e` scripts (CommonJS), so nothing needs installing.
 */
const PRELUDE = `
const fs = require('fs'), net = require('net'), cp = require('child_process');
const report = (obj) => new Promise((resolve) => {
  const s = net.connect(${JSON.stringify(SANDBOX_PATHS.controlSocket)}, () => s.end(JSON.stringify(obj) + '\\n', resolve));
  s.on('error', (e) => { process.stderr.write('report failed: ' + e.message + '\\n'); resolve(); });
});
const tryDo = (fn) => { try { return fn(); } catch (e) { return 'error:' + e.code; } };
`;

/** A running probe: its sandbox and the messages it reports. */
export interface Probe {
  info: SandboxInfo;
  runDir: string;
  /** The next reported message (rejects after `ms`). */
  next(ms?: number): Promise<Record<string, unknown>>;
}

/** Per-suite state: a temp root for run dirs, and the sandboxes to destroy after each test. */
export class Harness {
  readonly created = new Set<string>();
  readonly #servers: Server[] = [];

  private constructor(
    readonly root: string,
    readonly driver: SandboxDriver,
    readonly installDir: string,
  ) {}

  static async start(driver: SandboxDriver, installDir: string): Promise<Harness> {
    const root = await mkdtemp(join(tmpdir(), 'berth-conformance-'));
    // Traversable (not listable), as berthd's run root is: run dirs below it are then bound directly rather than
    // staged, unless the driver under test puts its own paths out of reach on purpose.
    await chmod(root, 0o711);
    return new Harness(root, driver, installDir);
  }

  /** Starts a sandbox running `code` (after PRELUDE) with a control socket listening in its runDir. */
  async probe(
    code: string,
    opts: {
      env?: Record<string, string>;
      resources?: SandboxResources;
      id?: string;
      readOnlyFiles?: ReadOnlyFile[];
      shared?: SharedPlacement;
    } = {},
  ): Promise<Probe> {
    const runDir = await mkdtemp(join(this.root, 'run-'));
    const queue: Record<string, unknown>[] = [];
    const waiters: ((m: Record<string, unknown>) => void)[] = [];
    const server = createServer((sock) => {
      let buf = '';
      sock.on('data', (d) => (buf += d.toString()));
      sock.on('end', () => {
        for (const line of buf.split('\n').filter(Boolean)) {
          const msg = JSON.parse(line) as Record<string, unknown>;
          const w = waiters.shift();
          if (w) w(msg);
          else queue.push(msg);
        }
      });
    });
    this.#servers.push(server);
    await new Promise<void>((res) => server.listen(join(runDir, 'control.sock'), res));
    const id = opts.id ?? newId('sandbox');
    this.created.add(id);
    const info = await this.driver.create({
      id,
      // node 20's -e is CommonJS: no top-level await, hence the async wrapper.
      command: [
        process.execPath,
        '-e',
        `${PRELUDE}(async () => {\n${code}\n})().catch((e) => { console.error(e); process.exit(70); });`,
      ],
      env: opts.env ?? { PATH: '/usr/bin:/bin', HOME: SANDBOX_PATHS.home },
      runDir,
      installDir: this.installDir,
      resources: opts.resources ?? {},
      ...(opts.readOnlyFiles ? { readOnlyFiles: opts.readOnlyFiles } : {}),
      ...(opts.shared ? { shared: opts.shared } : {}),
    });
    const next = (ms = 20_000): Promise<Record<string, unknown>> => {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`probe ${id} reported nothing within ${ms} ms (see ${info.logFile})`)),
          ms,
        );
        waiters.push((m) => {
          clearTimeout(t);
          resolve(m);
        });
      });
    };
    return { info, runDir, next };
  }

  /** Destroys every sandbox the current test created. */
  async destroyAll(): Promise<void> {
    const ids = [...this.created];
    this.created.clear();
    await Promise.all(ids.map((id) => this.driver.destroy(id)));
  }

  async close(): Promise<void> {
    await this.destroyAll();
    await Promise.all(this.#servers.map((s) => new Promise((r) => s.close(r))));
    await rm(this.root, { recursive: true, force: true });
  }
}
