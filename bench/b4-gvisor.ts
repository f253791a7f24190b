import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import {
  BwrapDriver,
  GvisorDriver,
  INSTALL_DIR,
  ModelGateway,
  RUNNER_ENTRY,
  SessionRuntime,
  EgressAudit,
  EgressPolicy,
  EgressProxy,
  buildRunConfig,
  createCgroupManagerSync,
  createLogger,
  openSqlite,
  type SandboxDriver,
} from '@berth/server';
import { interleave, report } from './stats.js';

/**
 * B4: sandbox create → runner ready for the gVisor driver against the bwrap driver, side by side: both through
 * the same SessionRuntime.start() a session uses (sockets, cgroup, sandbox, runner start) until the runner's hello
 * reaches berthd, with the default session limits. The ratio is gVisor's start-up cost, not a target to meet.
 */
export async function benchGvisorStart(n: number): Promise<object[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'b4-'));
  chmodSync(dataDir, 0o711);
  const logger = createLogger('warn', process.stderr);
  const store = openSqlite(join(dataDir, 'b4.db'));
  await store.migrate();
  const cgroups = createCgroupManagerSync();
  const bwrap = new BwrapDriver({ sandboxesDir: join(dataDir, 'sandboxes'), logger, cgroups });
  const gvisor = new GvisorDriver({ sandboxesDir: join(dataDir, 'sandboxes-gvisor'), logger, cgroups });
  const gateway = new ModelGateway({ url: 'http://127.0.0.1:9', apiKey: 'unused' }, store, logger);
  const base = {
    gateway,
    egress: new EgressProxy({ audit: new EgressAudit(store, logger, () => new Date().toISOString()), logger }),
    logger,
    runRoot: join(dataDir, 'run'),
    installDir: INSTALL_DIR,
    runnerEntry: RUNNER_ENTRY,
    readyTimeoutMs: 20_000,
    logLevel: 'warn',
  };
  const runConfig = buildRunConfig({
    agent: { model: { id: 'claude-sonnet-4-5' }, tools: [] },
    gatewayToken: 'b4-token-not-a-secret-0000',
    sdkSessionId: '00000000-0000-4000-8000-000000000004',
    maxTurns: 1,
    modelMaxRetries: 0,
  });
  const callbacks = {
    onEvent: async () => undefined,
    welcome: async () => ({ type: 'welcome' as const, sessions: [] }),
    onLost: () => undefined,
    onAgentReady: () => undefined,
  };
  const limits = { memoryMib: 1024, cpus: 1, pids: 512 }; // berthd's defaults
  await bwrap.warmUp();
  const settle = () => new Promise((r) => setTimeout(r, 150));
  const start = (driver: SandboxDriver) => async (): Promise<number> => {
    const rt = new SessionRuntime(
      newId('session'),
      newId('sandbox'),
      'x',
      runConfig,
      { policy: EgressPolicy.compile({ config: { type: 'cloud' }, mcpServers: [] }) },
      { ...base, driver },
      callbacks,
    );
    const t0 = performance.now();
    await rt.start(limits);
    const ms = performance.now() - t0;
    await rt.destroy();
    await settle();
    return ms;
  };
  try {
    const [g, b] = await interleave(n, 2, start(gvisor), start(bwrap));
    return [
      report({
        id: 'B4',
        title: 'sandbox create → runner ready, gVisor vs bwrap',
        berth: { name: 'gvisor driver: SessionRuntime.start() → runner hello', samples: g },
        baseline: { name: 'bwrap driver: SessionRuntime.start() → runner hello', samples: b },
        target: 10,
        note: 'informational: the price of gVisor (ptrace platform) over bwrap; the target is a sanity bound',
      }),
    ];
  } finally {
    await bwrap.close();
    await gateway.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
