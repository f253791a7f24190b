import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { discoverLayout, resolveBinary } from '../bwrap/host.js';
import type { CgroupManager } from '../cgroups/index.js';
import { ociConfig } from './bundle.js';
import { writeBundle } from './host.js';
import { globalFlags, runsc, runscVersion } from './runsc.js';

/** What `checkGvisorHost` looks at. */
export interface GvisorCheckInput {
  runscPath: string;
  stateDir: string;
  cgroups: CgroupManager;
  /** Skip the real sandbox start (it already succeeded for this driver instance). */
  smokeTested?: boolean;
}

/**
 * Each problem that stops the gVisor driver on this host, phrased as what to do about it. Beyond finding runsc it
 * starts a real sandbox (`/bin/true` on the ptrace platform, `--network=none`, ~0.2 s), because that is what fails
 * on hosts where runsc is installed but cannot run (e.g. no ptrace, seccomp or user namespaces).
 */
export async function checkGvisorHost(input: GvisorCheckInput): Promise<string[]> {
  const problems: string[] = [];
  if (process.getuid?.() !== 0)
    problems.push('berthd must run as root to start gVisor sandboxes (runsc creates namespaces and cgroups)');
  const bin = await resolveBinary(input.runscPath);
  if (bin === undefined) {
    problems.push(`runsc not found ('${input.runscPath}'): apt-get install runsc, or set BERTH_RUNSC_PATH`);
    return problems;
  }
  if ((await runscVersion(bin)) === undefined)
    problems.push(`${bin} --version failed: reinstall runsc (apt-get install --reinstall runsc)`);
  problems.push(...(await input.cgroups.check()));
  if (problems.length > 0 || input.smokeTested === true) return problems;
  const smoke = await smokeTest(bin, input.stateDir).catch((err: Error) => err.message);
  if (smoke !== undefined)
    problems.push(
      `runsc cannot start a sandbox on the ptrace platform here (${smoke}); gVisor needs ptrace and user namespaces: check kernel.yama.ptrace_scope <= 1 and that seccomp is available, or disable the gvisor driver`,
    );
  return problems;
}

/** Runs `/bin/true` in a throw-away gVisor sandbox; undefined when it worked, else why not. */
async function smokeTest(bin: string, stateDir: string): Promise<string | undefined> {
  const dir = join(stateDir, `.check-${randomBytes(4).toString('hex')}`);
  const id = `berth-check-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const empty = join(dir, 'empty');
    await writeFile(empty, '', { mode: 0o644 });
    const layout = await discoverLayout();
    const config = ociConfig({
      layout: { system: layout.system, etc: [] },
      sources: { install: '/usr', run: '/usr', workspace: dir, home: dir, passwd: empty, group: empty, extra: [] },
      command: ['/bin/true'],
      env: { PATH: '/usr/bin:/bin' },
      hostUid: 65534,
    });
    await writeBundle(join(dir, 'bundle'), config, { system: layout.system, etc: [] });
    await runsc(bin, [...globalFlags(join(dir, 'state')), 'run', '--bundle', join(dir, 'bundle'), id], 20_000);
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
