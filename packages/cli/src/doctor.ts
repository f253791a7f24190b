import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  BwrapDriver,
  GvisorDriver,
  INSTALL_DIR,
  RUNNER_ENTRY,
  createCgroupManagerSync,
  createLogger,
  type BerthConfig,
} from '@berth/server';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * `berth doctor`: checks what a host needs to run sandboxed agents, and says how to fix each missing piece.
 * Resolves with the checks; the CLI exits non-zero if any failed.
 */
export async function doctor(config: BerthConfig): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  const [major] = process.versions.node.split('.').map(Number);
  add(
    'node',
    (major ?? 0) >= 20,
    `Node ${process.versions.node}${(major ?? 0) >= 20 ? '' : ': install Node 20 or newer'}`,
  );

  let cgroups;
  try {
    cgroups = createCgroupManagerSync();
  } catch (err) {
    add('cgroups', false, `${(err as Error).message}`);
    return checks;
  }
  const driver = new BwrapDriver({
    sandboxesDir: join(config.dataDir, 'sandboxes'),
    logger: createLogger('silent'),
    cgroups,
    uidRange: { start: config.uidRangeStart, count: config.uidRangeCount },
    bwrapPath: config.bwrapPath,
  });
  const problems = await driver.check();
  add(
    'sandbox (bwrap, user namespaces, cgroups)',
    problems.length === 0,
    problems.length ? problems.join('\n      ') : 'usable',
  );
  // With a default quota, every environment needs one: a host that cannot make disks would refuse them all.
  const disks = driver.capabilities.diskLimit;
  add(
    'disk quota (loop devices, e2fsprogs)',
    disks || config.defaultDiskMib === 0,
    disks
      ? `usable (default ${config.defaultDiskMib === 0 ? 'none' : `${config.defaultDiskMib} MiB`})`
      : 'this host cannot make workspace disks (needs root, /dev/loop-control, mkfs.ext4, mount); ' +
          (config.defaultDiskMib === 0 ? 'quotas will be refused' : 'install e2fsprogs or set --default-disk-mib 0'),
  );
  if (config.drivers.includes('gvisor')) {
    const gvisor = new GvisorDriver({
      sandboxesDir: join(config.dataDir, 'sandboxes-gvisor'),
      logger: createLogger('silent'),
      cgroups,
      uidRange: { start: config.gvisorUidRangeStart, count: config.uidRangeCount },
      runscPath: config.runscPath,
    });
    const gp = await gvisor.check();
    add('sandbox (gvisor: runsc, ptrace platform)', gp.length === 0, gp.length ? gp.join('\n      ') : 'usable');
  }

  try {
    const require = createRequire(import.meta.url);
    const sdkDir = dirname(
      require.resolve('@anthropic-ai/claude-agent-sdk-linux-x64/package.json', { paths: [INSTALL_DIR] }),
    );
    const bin = join(sdkDir, 'claude');
    await access(bin, constants.X_OK);
    add('claude CLI binary', true, bin);
  } catch {
    add(
      'claude CLI binary',
      false,
      'not found: run `npm ci` in the Berth directory (it installs @anthropic-ai/claude-agent-sdk)',
    );
  }

  try {
    await access(join(INSTALL_DIR, RUNNER_ENTRY));
    add('runner bundle', true, join(INSTALL_DIR, RUNNER_ENTRY));
  } catch {
    add('runner bundle', false, 'missing: run `npm run build`');
  }

  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await access(config.dataDir, constants.W_OK);
    add('data dir', true, config.dataDir);
  } catch (err) {
    add(
      'data dir',
      false,
      `${config.dataDir} is not writable (${(err as Error).message}): pass --data-dir or fix permissions`,
    );
  }

  add(
    'model',
    true,
    config.scriptedModel
      ? 'scripted model (offline); set ANTHROPIC_API_KEY to use the real API'
      : `upstream ${config.upstreamUrl}`,
  );
  return checks;
}
