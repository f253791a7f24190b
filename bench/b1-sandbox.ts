import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import {
  BwrapDriver,
  EgressAudit,
  EgressPolicy,
  EgressProxy,
  INSTALL_DIR,
  ModelGateway,
  RUNNER_ENTRY,
  SessionRuntime,
  buildRunConfig,
  createCgroupManagerSync,
  createLogger,
  openSqlite,
} from '@berth/server';
import { interleave, report } from './stats.js';

/**
 * B1: sandbox create → runner ready (the runner's hello reached berthd), through the same SessionRuntime.start()
 * a session uses (sockets, cgroup, bwrap, runner start), against a raw unprivileged `bwrap … node -e 0` with the
 * same namespaces on the same machine.
 */
const RAW_UID = 199_999;

function rawBwrap(): Promise<number> {
  const args = [
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--uid',
    '1000',
    '--gid',
    '1000',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '/usr/bin/node',
    '-e',
    '0',
  ];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('bwrap', args, { uid: RAW_UID, gid: RAW_UID, env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`bwrap exited ${code}`))));
  });
}

/**
 * B1, and with `diskMib` also B1d: the same start with and without a workspace disk quota of that size (a sparse
 * image, mkfs.ext4 and a loop mount on the create path), interleaved; the ratio is the quota's cost.
 */
export async function benchSandboxStart(n: number, diskMib?: number): Promise<object[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'b1-'));
  chmodSync(dataDir, 0o711); // as berthd makes its data dir

  const logger = createLogger('warn', process.stderr);
  const store = openSqlite(join(dataDir, 'b1.db'));
  await store.migrate();
  const driver = new BwrapDriver({
    sandboxesDir: join(dataDir, 'sandboxes'),
    logger,
    cgroups: createCgroupManagerSync(),
  });
  const gateway = new ModelGateway({ url: 'http://127.0.0.1:9', apiKey: 'unused' }, store, logger);
  const egress = new EgressProxy({ audit: new EgressAudit(store, logger, () => new Date().toISOString()), logger });
  const deps = {
    driver,
    gateway,
    egress,
    logger,
    runRoot: join(dataDir, 'run'),
    installDir: INSTALL_DIR,
    runnerEntry: RUNNER_ENTRY,
    readyTimeoutMs: 10_000,
    logLevel: 'warn',
  };
  const runConfig = buildRunConfig({
    agent: { model: { id: 'claude-sonnet-4-5' }, tools: [] },
    gatewayToken: 'b1-token-not-a-secret-0000',
    sdkSessionId: '00000000-0000-4000-8000-000000000001',
    maxTurns: 1,
    modelMaxRetries: 0,
  });
  // Deny-all egress, as for an environment without networking.
  const policy = EgressPolicy.compile({ config: { type: 'cloud' }, mcpServers: [] });
  const callbacks = {
    onEvent: async () => undefined,
    welcome: async () => ({ type: 'welcome' as const, sessions: [] }),
    onLost: () => undefined,
    onAgentReady: () => undefined,
  };
  // As berthd does at start-up: one launcher is pre-placed in its cgroup (refilled after each create).
  await driver.warmUp();
  const settle = () => new Promise((r) => setTimeout(r, 150));
  const berth = async (resources: { diskMib?: number } = {}): Promise<number> => {
    const rt = new SessionRuntime(newId('session'), newId('sandbox'), 'x', runConfig, { policy }, deps, callbacks);
    const t0 = performance.now();
    await rt.start(resources);
    const ms = performance.now() - t0;
    await rt.destroy();
    await settle();
    return ms;
  };
  const raw = async (): Promise<number> => {
    const ms = await rawBwrap();
    await settle();
    return ms;
  };
  try {
    const [b, r] = await interleave(n, 2, () => berth(), raw);
    const out = [
      report({
        id: 'B1',
        title: 'sandbox create → runner ready',
        berth: { name: 'Berth: SessionRuntime.start() → runner hello', samples: b },
        baseline: { name: 'raw bwrap … node -e 0 (spawn → exit)', samples: r },
        target: 1.5,
      }),
    ];
    if (diskMib === undefined) return out;
    const [withDisk, without] = await interleave(
      n,
      2,
      () => berth({ diskMib }),
      () => berth(),
    );
    out.push(
      report({
        id: 'B1d',
        title: `sandbox create → runner ready, with vs without a ${diskMib} MiB disk quota`,
        berth: { name: `SessionRuntime.start({ diskMib: ${diskMib} })`, samples: withDisk },
        baseline: { name: 'SessionRuntime.start({})', samples: without },
        target: 1.5,
      }),
    );
    return out;
  } finally {
    await driver.close();
    await gateway.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
