import { describe, expect, it } from 'vitest';
import {
  LAUNCH_SCRIPT,
  envPayload,
  identityFiles,
  launcherArgv,
  poolLauncherArgv,
  poolPayload,
  sandboxArgs,
  stageArgs,
  type HostLayout,
  type SandboxSources,
} from './argv.js';
import { mountPointsUnder } from './mounts.js';

const layout: HostLayout = {
  system: [
    { kind: 'bind', path: '/usr' },
    { kind: 'symlink', path: '/bin', target: 'usr/bin' },
  ],
  etc: [
    { kind: 'bind', path: '/etc/ssl' },
    { kind: 'symlink', path: '/etc/localtime', target: '/usr/share/zoneinfo/UTC' },
  ],
};
const sources: SandboxSources = {
  install: '/srv/berth/install',
  run: '/var/lib/berth/run/s1',
  workspace: '/var/lib/berth/sandboxes/sbx_1/workspace',
  home: '/var/lib/berth/sandboxes/sbx_1/home',
  passwd: '/var/lib/berth/sandboxes/.identity/passwd',
  group: '/var/lib/berth/sandboxes/.identity/group',
  extra: [{ source: '/opt/node', dest: '/opt/node' }],
};

/** True when `seq` occurs contiguously in `argv`: asserts on flag groups without depending on their position. */
const after = (argv: string[], ...seq: string[]): boolean =>
  argv.some((_, i) => seq.every((s, j) => argv[i + j] === s));

describe('bwrap argv builder', () => {
  const argv = sandboxArgs({ layout, sources, disableNestedUserns: true, command: ['/usr/bin/node', 'r.mjs'] });

  it('unshares every namespace, drops to uid/gid 1000 and every capability, in a new session', () => {
    expect(argv.slice(0, 2)).toEqual(['--args', '3']);
    for (const f of ['--unshare-all', '--unshare-user', '--unshare-cgroup', '--disable-userns', '--new-session'])
      expect(argv).toContain(f);
    expect(after(argv, '--uid', '1000', '--gid', '1000')).toBe(true);
    expect(after(argv, '--cap-drop', 'ALL')).toBe(true);
    expect(argv).not.toContain('--die-with-parent');
    expect(argv).not.toContain('--share-net');
  });

  it('mirrors the host layout read-only and mounts the sandbox paths where the runner expects them', () => {
    expect(after(argv, '--ro-bind', '/usr', '/usr')).toBe(true);
    expect(after(argv, '--symlink', 'usr/bin', '/bin')).toBe(true);
    expect(after(argv, '--ro-bind', '/etc/ssl', '/etc/ssl')).toBe(true);
    expect(after(argv, '--symlink', '/usr/share/zoneinfo/UTC', '/etc/localtime')).toBe(true);
    expect(after(argv, '--ro-bind', sources.passwd, '/etc/passwd')).toBe(true);
    expect(after(argv, '--bind', sources.workspace, '/workspace')).toBe(true);
    expect(after(argv, '--bind', sources.home, '/home/agent')).toBe(true);
    expect(after(argv, '--ro-bind', sources.run, '/run/berth')).toBe(true);
    expect(after(argv, '--ro-bind', sources.install, '/opt/berth')).toBe(true);
    expect(after(argv, '--ro-bind', '/opt/node', '/opt/node')).toBe(true);
    expect(after(argv, '--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp')).toBe(true);
    expect(argv.filter((a) => a === '/etc' || a === '/root' || a === '/')).toEqual(['/']); // only in --remount-ro /
  });

  it('exposes only the listed installation paths when installPaths is given', () => {
    const narrow = sandboxArgs({
      layout,
      sources: { ...sources, installPaths: ['node_modules', 'packages/runner/dist'] },
      disableNestedUserns: true,
      command: ['/usr/bin/node', 'r.cjs'],
    });
    expect(after(narrow, '--ro-bind', `${sources.install}/node_modules`, '/opt/berth/node_modules')).toBe(true);
    expect(
      after(narrow, '--ro-bind', `${sources.install}/packages/runner/dist`, '/opt/berth/packages/runner/dist'),
    ).toBe(true);
    expect(after(narrow, '--ro-bind', sources.install, '/opt/berth')).toBe(false);
    expect(after(argv, '--ro-bind', sources.install, '/opt/berth')).toBe(true);
  });

  it('remounts the root read-only after every mount and ends with the command', () => {
    const sep = argv.indexOf('--');
    expect(argv.slice(sep - 4, sep)).toEqual(['--remount-ro', '/', '--chdir', '/workspace']);
    expect(argv.slice(sep + 1)).toEqual(['/usr/bin/node', 'r.mjs']);
  });

  it('keeps the environment out of argv and passes it NUL-separated, odd names and values intact', () => {
    const env = { TOKEN: 's3cret', 'A-B.c': 'x=y', EMPTY: '', NL: 'a\nb' };
    expect(sandboxArgs({ layout, sources, disableNestedUserns: false, command: ['x'] }).join(' ')).not.toMatch(
      /s3cret/,
    );
    const parts = envPayload(env).split('\0');
    expect(parts.pop()).toBe('');
    expect(parts).toEqual([
      '--clearenv',
      '--setenv',
      'TOKEN',
      's3cret',
      '--setenv',
      'A-B.c',
      'x=y',
      '--setenv',
      'EMPTY',
      '',
      '--setenv',
      'NL',
      'a\nb',
    ]);
  });

  it('stages every source below the stage tmpfs and drops privileges before the real bwrap', () => {
    const { outer, staged } = stageArgs(sources);
    expect(outer.slice(0, 5)).toEqual(['--dev-bind', '/', '/', '--tmpfs', '/tmp']);
    expect(after(outer, '--ro-bind', sources.install, staged.install)).toBe(true);
    expect(after(outer, '--bind', sources.workspace, staged.workspace)).toBe(true);
    expect(staged.extra).toEqual([{ source: '/tmp/extra0', dest: '/opt/node' }]);
    const full = launcherArgv({
      bwrap: '/usr/bin/bwrap',
      inner: ['--args', '3'],
      stage: { outer, setpriv: '/usr/bin/setpriv', uid: 201000, gid: 201000 },
    });
    expect(full.slice(0, 4)).toEqual(['-c', LAUNCH_SCRIPT, 'berth-launch', '/usr/bin/bwrap']);
    expect(
      after(
        full,
        '--',
        '/usr/bin/setpriv',
        '--reuid',
        '201000',
        '--regid',
        '201000',
        '--clear-groups',
        '--',
        '/usr/bin/bwrap',
        '--args',
        '3',
      ),
    ).toBe(true);
    expect(launcherArgv({ bwrap: '/b', inner: ['--x'] })).toEqual(['-c', LAUNCH_SCRIPT, 'berth-launch', '/b', '--x']);
  });

  it('uses a constant launcher script that only ever execs its arguments', () => {
    expect(LAUNCH_SCRIPT).toBe('read -r _ <&3 || exit 125; exec "$@"');
  });

  it('starts a pooled launcher with nothing sandbox-specific in argv, and remounts / after the payload binds', () => {
    const pooled = poolLauncherArgv('/usr/bin/bwrap', { layout, disableNestedUserns: true });
    const direct = sandboxArgs({ layout, sources, disableNestedUserns: true, command: ['x'] });
    const joined = pooled.join(' ');
    for (const path of [sources.workspace, sources.run, sources.install, sources.passwd])
      expect(joined).not.toContain(path);
    expect(pooled.slice(-6)).toEqual(['--args', '3', '--remount-ro', '/', '--chdir', '/workspace']);
    // The shared options are those of the direct path, in the same order, up to the per-sandbox binds.
    expect(pooled.slice(4, -6)).toEqual(direct.slice(2, direct.indexOf(sources.passwd) - 1));
    expect(after(pooled, '--disable-userns')).toBe(true);
  });

  it('sends a pooled launcher its log, command, environment and binds, NUL-separated, in that order', () => {
    const payload = poolPayload({ logFile: '/d/runner.log', command: ['/n', 'a b'], env: { K: 'v' }, sources });
    const parts = payload.split('\0');
    expect(parts.pop()).toBe('');
    expect(parts.slice(0, 9)).toEqual([
      '/d/runner.log',
      '2',
      '/n',
      'a b',
      '--clearenv',
      '--setenv',
      'K',
      'v',
      '--ro-bind',
    ]);
    expect(after(parts, '--bind', sources.workspace, '/workspace')).toBe(true);
    expect(after(parts, '--ro-bind', sources.install, '/opt/berth')).toBe(true);
    expect(parts).not.toContain('--');
  });

  it('describes the sandbox user agent (1000) with home /home/agent', () => {
    const { passwd, group } = identityFiles();
    expect(passwd).toMatch(/^agent:x:1000:1000:[^:]*:\/home\/agent:\/bin\/sh$/m);
    expect(group).toMatch(/^agent:x:1000:$/m);
  });

  it('finds host mounts under a directory, deepest first, with mountinfo escapes', () => {
    const info = [
      '1 0 0:1 / /srv rw - ext4 x rw',
      '2 1 0:2 / /srv/sbx_1/a\\040b rw - tmpfs t rw',
      '3 1 0:3 / /srv/sbx_10 rw - tmpfs t rw',
      '4 2 0:4 / /srv/sbx_1/a\\040b/c rw - tmpfs t rw',
    ].join('\n');
    expect(mountPointsUnder(info, '/srv/sbx_1')).toEqual(['/srv/sbx_1/a b/c', '/srv/sbx_1/a b']);
  });
});
