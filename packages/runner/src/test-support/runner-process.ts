import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The runner package directory. */
export const RUNNER_DIR = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Builds the runner with the package's bundle script (what the driver runs in the sandbox) into `outDir`, a
 * directory of the caller's inside the package: never into dist/, whose files sandboxes of test files running in
 * parallel are loading (the script removes the old files before writing the new ones). Returns the entry's path.
 */
export function bundleRunner(outDir: string): string {
  execFileSync(process.execPath, [`${RUNNER_DIR}/scripts/bundle.mjs`, '--out', outDir], { stdio: 'pipe' });
  return `${outDir}/runner.cjs`;
}

/** A runner process started by a test, with its parsed log. */
export interface RunnerProcess {
  child: ChildProcess;
  pid: number;
  /** Parsed stderr JSON lines. */
  logs: Array<Record<string, unknown>>;
  /** Raw stderr and stdout (stdout must stay empty). */
  stderr: () => string;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if still running (by pid; used in cleanup). */
  kill(): void;
}

/** Starts the bundled runner with the clean environment the driver gives it. */
export function spawnRunner(opts: {
  bundle: string;
  controlSocket: string;
  modelSocket: string;
  sandboxId: string;
  home: string;
}): RunnerProcess {
  const child = spawn(process.execPath, [opts.bundle], {
    env: {
      BERTH_CONTROL_SOCKET: opts.controlSocket,
      BERTH_MODEL_SOCKET: opts.modelSocket,
      BERTH_SANDBOX_ID: opts.sandboxId,
      BERTH_LOG_LEVEL: 'debug',
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: opts.home,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  const logs: Array<Record<string, unknown>> = [];
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        logs.push({ unparsed: l });
      }
    }
  });
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    pid: child.pid!,
    logs,
    stderr: () => err,
    stdout: () => out,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
