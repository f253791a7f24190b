import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES, RUNNER_ENV, SANDBOX_PATHS } from '@berth/protocol';
import { DEFAULT_SOCKETS, FRAME_LIMIT_BYTES, readRunnerEnv, RUNNER_ENV_NAMES, RUNNER_VERSION } from './env.js';

describe('env', () => {
  it('mirrors the protocol constants it cannot import on the fast path', () => {
    expect(RUNNER_ENV_NAMES).toEqual(RUNNER_ENV);
    expect(FRAME_LIMIT_BYTES).toBe(MAX_FRAME_BYTES);
    expect(DEFAULT_SOCKETS).toEqual({ control: SANDBOX_PATHS.controlSocket, model: SANDBOX_PATHS.modelSocket });
  });

  it('reports the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(RUNNER_VERSION).toBe(pkg.version);
  });

  it('reads the driver-set variables with safe defaults', () => {
    expect(readRunnerEnv({})).toMatchObject({
      controlSocket: '/run/berth/control.sock',
      logLevel: 'info',
      sandboxId: 'unknown',
    });
    const env = readRunnerEnv({
      BERTH_CONTROL_SOCKET: '/x.sock',
      BERTH_LOG_LEVEL: 'DEBUG',
      BERTH_SANDBOX_ID: 's'.repeat(80),
      PATH: '/bin',
    });
    expect(env).toMatchObject({ controlSocket: '/x.sock', logLevel: 'debug', path: '/bin' });
    expect(env.sandboxId).toHaveLength(64);
  });
});
