import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SANDBOX_PATHS, SANDBOX_UID } from '@berth/protocol';
import { expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { sandboxProcesses } from './host.js';

/** What a sandboxed process can see and do. */
export function isolationTests(ctx: SuiteContext): void {
  it('runs as uid 1000 inside, a non-root host uid outside, with no capabilities and only lo', async () => {
    const p = await ctx.h.probe(
      `
      const status = fs.readFileSync('/proc/self/status', 'utf8');
      const field = (k) => (status.match(new RegExp('^' + k + ':\\\\s+(.*)$', 'm')) || [])[1];
      const ifaces = fs.readFileSync('/proc/net/dev', 'utf8').split('\\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean);
      const tcp = await new Promise((res) => {
        const s = net.connect(Number(process.env.HOST_PORT), '127.0.0.1', () => { s.destroy(); res('connected'); });
        s.on('error', (e) => res(e.code));
        s.setTimeout(3000, () => { s.destroy(); res('timeout'); });
      });
      fs.writeFileSync('/workspace/owner-probe', 'x');
      await report({ uid: process.getuid(), gid: process.getgid(), euid: process.geteuid(), capEff: field('CapEff'),
        capPrm: field('CapPrm'), groups: field('Groups'), ifaces, tcp, hostname: require('os').hostname(),
        procPids: fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).length });
      setInterval(() => {}, 1000);
    `,
      { env: { HOST_PORT: String(ctx.tcpPort) } },
    );
    const m = await p.next();
    expect(m).toMatchObject({
      uid: SANDBOX_UID,
      gid: SANDBOX_UID,
      euid: SANDBOX_UID,
      capEff: '0000000000000000',
      capPrm: '0000000000000000',
    });
    expect(m.ifaces).toEqual(['lo']);
    expect(m.tcp).not.toBe('connected');
    expect(ctx.tcpConnections).toBe(0);
    expect(m.procPids as number).toBeLessThan(10); // its own pid namespace
    expect(p.info.hostUid).toBeGreaterThan(0);
    expect((await stat(join(p.info.workspaceDir, 'owner-probe'))).uid).toBe(p.info.hostUid);
    expect((await sandboxProcesses(ctx.dut, p.info)).length).toBeGreaterThan(0);
  });

  it('sees a minimal, mostly read-only filesystem and none of the host’s private paths', async () => {
    // The host's private places, the test's temp dir, the install dir's host path (it is only at /opt/berth), and
    // the driver's own data: where another sandbox's workspace lives, and that workspace.
    const other = await ctx.h.probe('await report({});');
    await other.next();
    const hostPaths = ['/root', '/work', ctx.h.root, ctx.dut.installDir, other.info.workspaceDir]
      .concat(dirname(dirname(other.info.workspaceDir)))
      .filter((x) => x !== SANDBOX_PATHS.install && x !== SANDBOX_PATHS.workspace);
    const p = await ctx.h.probe(
      `
      const write = (f) => tryDo(() => { fs.writeFileSync(f, 'x'); return 'ok'; });
      const tmpLine = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').find((l) => l.split(' ')[4] === '/tmp') || '';
      const hidden = JSON.parse(process.env.HOST_PATHS).concat(['/etc/shadow', '/etc/sudoers', '/var', '/srv', '/boot']);
      await report({
        usr: write('/usr/berth-probe'), root: write('/berth-probe'), opt: write('${SANDBOX_PATHS.install}/x'),
        run: write('${SANDBOX_PATHS.runDir}/x'), etc: write('/etc/x'),
        workspace: write('${SANDBOX_PATHS.workspace}/hello.txt'), home: write('${SANDBOX_PATHS.home}/.rc'),
        tmp: write('/tmp/x'), tmpFs: tmpLine.split(' - ')[1]?.split(' ')[0],
        marker: tryDo(() => fs.readFileSync('${SANDBOX_PATHS.install}/conformance-marker.txt', 'utf8')),
        visible: hidden.filter((p) => fs.existsSync(p)),
        passwd: fs.readFileSync('/etc/passwd', 'utf8'), cwd: process.cwd(),
        fds: fs.readdirSync('/proc/self/fd').map((f) => [Number(f), tryDo(() => fs.readlinkSync('/proc/self/fd/' + f))]),
      });
    `,
      { env: { PATH: '/usr/bin:/bin', HOST_PATHS: JSON.stringify(hostPaths) } },
    );
    const m = await p.next();
    const ro = ctx.dut.readOnlyError ?? 'error:EROFS';
    expect(m).toMatchObject({ usr: ro, root: ro, opt: ro, run: ro, etc: ro });
    expect(m).toMatchObject({
      workspace: 'ok',
      home: 'ok',
      tmp: 'ok',
      tmpFs: 'tmpfs',
      marker: 'conformance',
      visible: [],
    });
    expect(m.cwd).toBe(SANDBOX_PATHS.workspace);
    expect(m.passwd).toMatch(new RegExp(`^agent:x:${SANDBOX_UID}:${SANDBOX_UID}:.*:${SANDBOX_PATHS.home}:`, 'm'));
    expect(await readFile(join(p.info.workspaceDir, 'hello.txt'), 'utf8')).toBe('x');
    // No host file or directory descriptor leaks in: beyond stdio, only node's own pipes, sockets and anon inodes.
    const leaks = (m.fds as [number, string][]).filter(([fd, t]) => fd > 2 && t.startsWith('/') && t !== '/dev/null');
    expect(leaks).toEqual([]);
  });

  it('gives the command exactly spec.env (PWD and a missing HOME aside)', async () => {
    const env = { PATH: '/usr/bin:/bin', 'WEIRD-NAME.x': 'v=w', EMPTY: '', MULTI: 'a\nb', ANTHROPIC_API_KEY: 'tok' };
    const p = await ctx.h.probe('await report({ env: process.env });', { env });
    const got = { ...((await p.next()).env as Record<string, string>) };
    if ('PWD' in got && !('PWD' in env)) {
      expect(got.PWD).toBe(SANDBOX_PATHS.workspace);
      delete got.PWD;
    }
    // OCI runtimes (runsc) set HOME from /etc/passwd when the spec has none; it can only be the sandbox user's home.
    if ('HOME' in got && !('HOME' in env)) {
      expect(got.HOME).toBe(SANDBOX_PATHS.home);
      delete got.HOME;
    }
    expect(got).toEqual(env);
  });

  it('keeps two concurrent sandboxes apart: different host uids, private workspaces', async () => {
    const hold = 'await report({ ok: 1 }); setInterval(() => {}, 1000);';
    const [a, b] = await Promise.all([ctx.h.probe(hold), ctx.h.probe(hold)]);
    await Promise.all([a.next(), b.next()]);
    expect(a.info.hostUid).not.toBe(b.info.hostUid);
    const st = await stat(b.info.workspaceDir);
    expect(st.uid).toBe(b.info.hostUid);
    expect(st.mode & 0o077).toBe(0);
    const spy = await ctx.h.probe(`await report({ read: tryDo(() => fs.readdirSync(process.env.OTHER)) });`, {
      env: { OTHER: b.info.workspaceDir },
    });
    expect((await spy.next()).read).toMatch(/^error:/);
  });
}
