/**
 * The runner's start-up environment. This module is on the hello fast path, so it imports only the zod-free
 * `@berth/protocol/wire` (the schemas cost tens of milliseconds to load).
 */
import { RUNNER_ENV, SANDBOX_PATHS } from '@berth/protocol/wire';

/** The runner's version, reported in `hello` (kept equal to package.json by a test). */
export const RUNNER_VERSION = '0.1.0';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What the runner reads from its environment, once, at start-up. */
export interface RunnerEnv {
  controlSocket: string;
  modelSocket: string;
  egressSocket: string;
  /** berthd's preview tunnel socket (one connection per `open_tunnel`). */
  tunnelSocket: string;
  sandboxId: string;
  logLevel: LogLevel;
  /** PATH handed on to the CLI (the driver's clean env decides it). */
  path: string;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Reads the runner environment. Nothing else in the runner reads `process.env`. */
export function readRunnerEnv(env: Record<string, string | undefined>): RunnerEnv {
  const level = env[RUNNER_ENV.logLevel]?.toLowerCase();
  return {
    controlSocket: env[RUNNER_ENV.controlSocket] || SANDBOX_PATHS.controlSocket,
    modelSocket: env[RUNNER_ENV.modelSocket] || SANDBOX_PATHS.modelSocket,
    egressSocket: env[RUNNER_ENV.egressSocket] || SANDBOX_PATHS.egressSocket,
    tunnelSocket: env[RUNNER_ENV.tunnelSocket] || SANDBOX_PATHS.tunnelSocket,
    // hello caps sandbox_id at 64 chars; an over-long id would make every hello invalid.
    sandboxId: (env[RUNNER_ENV.sandboxId] || 'unknown').slice(0, 64),
    logLevel: LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info',
    path: env['PATH'] || '/usr/local/bin:/usr/bin:/bin',
  };
}
