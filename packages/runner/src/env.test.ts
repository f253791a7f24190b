import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readRunnerEnv, RUNNER_VERSION } from './env.js';

describe('env', () => {
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
