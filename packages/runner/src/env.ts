/**
 * The runner's start-up environment. This module is on the hello fast path, so it must not import
 * `@berth/protocol` (whose zod schemas cost tens of milliseconds to load). The few constants it needs are
 * mirrored here; `env.test.ts` fails if they drift from the protocol.
 */

/** The runner's version, reported in `hello` (kept equal to package.json by a test). */
export const RUNNER_VERSION = '0.1.0';

/** Mirror of `RUNNER_ENV` from `@berth/protocol`. */
export const RUNNER_ENV_NAMES = {
  controlSocket: 'BERTH_CONTROL_SOCKET',
  modelSocket: 'BERTH_MODEL_SOCKET',
  sandboxId: 'BERTH_SANDBOX_ID',
  logLevel: 'BERTH_LOG_LEVEL',
} as const;

/** Mirror of `MAX_FRAME_BYTES` from `@berth/protocol`. */
export const FRAME_LIMIT_BYTES = 4 * 1024 * 1024;

/** Mirror of `SANDBOX_PATHS.controlSocket` / `.modelSocket`, the defaults when the driver sets nothing. */
export const DEFAULT_SOCKETS = {
  control: '/run/berth/control.sock',
  model: '/run/berth/model.sock',
} as const;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What the runner reads from its environment, once, at start-up. */
export interface RunnerEnv {
  controlSocket: string;
  modelSocket: string;
  sandboxId: string;
  logLevel: LogLevel;
  /** PATH handed on to the CLI (the driver's clean env decides it). */
  path: string;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Reads the runner environment. Nothing else in the runner reads `process.env`. */
export function readRunnerEnv(env: Record<string, string | undefined>): RunnerEnv {
  const level = env[RUNNER_ENV_NAMES.logLevel]?.toLowerCase();
  return {
    controlSocket: env[RUNNER_ENV_NAMES.controlSocket] || DEFAULT_SOCKETS.control,
    modelSocket: env[RUNNER_ENV_NAMES.modelSocket] || DEFAULT_SOCKETS.model,
    // hello caps sandbox_id at 64 chars; an over-long id would make every hello invalid.
    sandboxId: (env[RUNNER_ENV_NAMES.sandboxId] || 'unknown').slice(0, 64),
    logLevel: LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info',
    path: env['PATH'] || '/usr/local/bin:/usr/bin:/bin',
  };
}
