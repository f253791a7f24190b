import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { newId, SANDBOX_UID } from '@berth/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { Harness } from '../conformance/harness.js';
import { cgroupDirsNamed, mountsMentioning, processesOfUid } from '../conformance/host.js';
import { BwrapDriver } from './bwrap-driver.js';
import { makeDriver, skip } from './testing.js';

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/** A member that writes into its workspace and its outbox, reports, and keeps running. */
const MEMBER = `
const me = process.getuid(), name = require('os').userInfo().username;
fs.writeFileSync('/workspace/own.txt', 'mine ' + me);
fs.writeFileSync('/shared/' + name + '/note.txt', 'hello from ' + name);
await report({ uid: me, gid: process.getgid(), name, cgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'),
  shared: fs.readdirSync('/shared'), home: fs.statSync(process.env.HOME).uid });
setInterval(() => {}, 1000);
`;

/** Tries to overwrite, delete, move and add to another member's outbox; reports what each attempt did. */
const attack = (other: string): string => `
const target = '/shared/${other}/note.txt', name = require('os').userInfo().username;
await report({
  uid: process.getuid(),
  shared: fs.readdirSync('/shared').sort(),
  overwrite: tryDo(() => fs.writeFileSync(target, 'overwritten')),
  remove: tryDo(() => fs.unlinkSync(target)),
  rename: tryDo(() => fs.renameSync(target, '/shared/${other}/x.txt')),
  addToTheirs: tryDo(() => fs.writeFileSync('/shared/${other}/planted.txt', 'x')),
  addToRoot: tryDo(() => fs.symlinkSync('/workspace/own.txt', '/shared/trap')),
  read: tryDo(() => fs.readFileSync(target, 'utf8')),
  ownOutbox: tryDo(() => fs.writeFileSync('/shared/' + name + '/mine.txt', 'ok') ?? 'ok'),
  ownWorkspace: tryDo(() => fs.writeFileSync('/workspace/new.txt', 'ok') ?? 'ok'),
  workspacesHidden: tryDo(() => fs.readdirSync('/members')),
});
setInterval(() => {}, 1000);
`;

describe.skipIf(skip !== false)(`bwrap shared sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disposers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of disposers.reverse()) await d();
  });

  /** A bwrap driver (its sandboxes staged unless `traversable`) and its harness, both disposed of after the file. */
  async function setup(traversable = true) {
    const dut = await makeDriver(traversable);
    const h = await Harness.start(dut.driver, dut.installDir);
    disposers.push(
      () => dut.cleanup(),
      () => h.close(),
    );
    return { dut, h };
  }

  it.each([
    ['', true],
    [' (staged)', false],
  ])(
    'gives each member its own uid, workspace and home; a member cannot change another member’s files%s',
    async (_, traversable) => {
      const { dut, h } = await setup(traversable);
      const group = newId('sharedSandbox');
      const a = await h.probe(MEMBER, { shared: { group }, resources: { pids: 256 } });
      const ma = await a.next();
      const b = await h.probe(attack('agent1'), { shared: { group } });
      const mb = await b.next();
      expect(ma).toMatchObject({ uid: SANDBOX_UID + 1, gid: SANDBOX_UID + 1, home: SANDBOX_UID + 1, name: 'agent1' });
      expect(a.info.shared).toEqual({ group, uid: SANDBOX_UID + 1 });
      expect(b.info.shared).toEqual({ group, uid: SANDBOX_UID + 2 });
      expect(a.info.hostUid).not.toBe(b.info.hostUid);
      expect(mb).toEqual({
        uid: SANDBOX_UID + 2,
        shared: ['agent1', 'agent2'],
        overwrite: 'error:EACCES',
        remove: 'error:EACCES',
        rename: 'error:EACCES',
        addToTheirs: 'error:EACCES',
        addToRoot: 'error:EACCES',
        read: 'hello from agent1',
        ownOutbox: 'ok',
        ownWorkspace: 'ok',
        workspacesHidden: 'error:ENOENT',
      });
      // One group: both members' cgroups are children of the group's, which carries the limit.
      const [ga] = await cgroupDirsNamed(a.info.id);
      const [gb] = await cgroupDirsNamed(b.info.id);
      expect(ga).toContain(`/${group}/${a.info.id}`);
      expect(gb).toContain(`/${group}/${b.info.id}`);
      expect(ma.cgroup).toMatch(/^0::\/$/m); // its own cgroup namespace: it cannot see the group from inside
      expect(ma.shared).toEqual(['agent1']);
      // Separate host uids, separate homes and CLAUDE_CONFIG_DIRs.
      expect(a.info.homeDir).not.toBe(b.info.homeDir);
      expect(b.info.workspaceDir).toBe(join(dut.opts.sandboxesDir, group, 'members', b.info.id));

      // The group outlives its first member, and goes with its last: processes, cgroups, mounts, directories.
      const groupDir = join(dut.opts.sandboxesDir, group);
      await dut.driver.destroy(a.info.id);
      expect(await processesOfUid(a.info.hostUid)).toEqual([]);
      // A's workspace, home and outbox go with it; B's stay.
      expect(await exists(join(groupDir, 'shared', 'agent1'))).toBe(false);
      expect(await exists(join(groupDir, 'shared', 'agent2', 'mine.txt'))).toBe(true);
      expect(await exists(a.info.workspaceDir)).toBe(false);
      expect(await exists(a.info.homeDir)).toBe(false);
      expect((await dut.driver.inspect(b.info.id))?.status).toBe('running');
      await dut.driver.destroy(b.info.id);
      expect(await processesOfUid(b.info.hostUid)).toEqual([]);
      expect(await exists(groupDir)).toBe(false);
      expect(await cgroupDirsNamed(group)).toEqual([]);
      expect(await mountsMentioning(group)).toEqual([]);
    },
  );

  it('is re-adopted after a restart, and a group left without members is swept at start-up', async () => {
    const { dut, h } = await setup();
    const group = newId('sharedSandbox');
    const a = await h.probe(MEMBER, { shared: { group } });
    await a.next();
    // What a berthd that died half-way through a create could leave: a group with a member that has no record.
    const orphan = newId('sharedSandbox');
    await mkdir(join(dut.opts.sandboxesDir, orphan, 'members', newId('sandbox')), { recursive: true });
    await dut.opts.cgroups!.create(orphan, {});
    // Another berthd (its own data dir) sharing the cgroup parent starts: our live group is not its to sweep.
    const range = dut.opts.uidRange!;
    const neighbour = new BwrapDriver({
      ...dut.opts,
      sandboxesDir: join(dirname(dut.opts.sandboxesDir), 'neighbour'),
      uidRange: { start: range.start + range.count - 4, count: 4 },
    });
    dut.others.push(neighbour);
    await neighbour.warmUp();
    expect((await dut.driver.inspect(a.info.id))?.status).toBe('running');
    const restarted = new BwrapDriver(dut.opts);
    dut.others.push(restarted);
    await restarted.warmUp();
    expect(await restarted.inspect(a.info.id)).toMatchObject({ status: 'running', shared: { group } });
    expect(await exists(join(dut.opts.sandboxesDir, orphan))).toBe(false);
    expect(await cgroupDirsNamed(orphan)).toEqual([]);
    // A new member after the restart gets a free index, not the live member's.
    const h2 = await Harness.start(restarted, dut.installDir);
    disposers.push(() => h2.close());
    const b = await h2.probe(MEMBER, { shared: { group } });
    expect((await b.next()).uid).toBe(SANDBOX_UID + 2);
    await restarted.destroy(a.info.id);
    await restarted.destroy(b.info.id);
    expect(await exists(join(dut.opts.sandboxesDir, group))).toBe(false);
  });

  it('holds the memory limit for the members together, and reports a kill against the member it hit', async (ctx) => {
    const { dut, h } = await setup();
    if (!dut.driver.capabilities.memoryLimit) return ctx.skip('no memory controller on this host');
    const group = newId('sharedSandbox');
    // A holds 48 MiB of a 160 MiB group; B then wants 128 MiB in a child process: alone it would fit, together not.
    // (The kernel kills the group's largest process, here B's: a member with the biggest footprint is the victim.)
    const hold = (mib: number) =>
      `const b = Buffer.alloc(${mib} << 20, 1); await report({ held: b.length >> 20 }); setInterval(() => b[0]++, 1000);`;
    const a = await h.probe(hold(48), { shared: { group }, resources: { memoryMib: 160 } });
    expect(await a.next()).toEqual({ held: 48 });
    const hog = `const r = cp.spawnSync(process.execPath, ['-e', ${JSON.stringify(hold(128).replace(/await report.*?;/, ''))}], { timeout: 20000 });
      await report({ signal: r.signal }); setInterval(() => {}, 1000);`;
    const b = await h.probe(hog, { shared: { group }, resources: { memoryMib: 160 } });
    expect(await b.next(30_000)).toEqual({ signal: 'SIGKILL' });
    expect(await dut.driver.oomKills(b.info.id)).toBeGreaterThan(0);
    expect(await dut.driver.oomKills(a.info.id)).toBe(0);
    expect((await dut.driver.inspect(a.info.id))?.status).toBe('running');
  });

  it('lets a member open a live channel to another through a unix socket in its outbox, if it chooses to', async () => {
    const { h } = await setup();
    const group = newId('sharedSandbox');
    const server = `
      const srv = net.createServer((c) => c.end('hello from ' + require('os').userInfo().username + '\\n'));
      await new Promise((r) => srv.listen('/shared/agent1/chat.sock', r));
      fs.chmodSync('/shared/agent1/chat.sock', 0o666); // opting in: a socket needs write permission to connect
      await report({ listening: true });`;
    const a = await h.probe(server, { shared: { group } });
    expect(await a.next()).toEqual({ listening: true });
    const client = `
      const line = await new Promise((resolve) => {
        const c = net.connect('/shared/agent1/chat.sock');
        let buf = ''; c.on('data', (d) => (buf += d)); c.on('end', () => resolve(buf)); c.on('error', (e) => resolve('error:' + e.code));
      });
      await report({ line });
      setInterval(() => {}, 1000);`;
    const b = await h.probe(client, { shared: { group } });
    expect(await b.next()).toEqual({ line: 'hello from agent1\n' });
  });

  it('bounds all members with one group disk, and refuses a malformed group id', async () => {
    const { dut, h } = await setup();
    await expect(h.probe('', { shared: { group: 'shr_nope' } })).rejects.toThrow(/not a shared sandbox id/);
    if (!dut.driver.capabilities.diskLimit) return;
    const group = newId('sharedSandbox');
    /** `file`: a JS expression. */
    const fill = (file: string) => `
      const buf = Buffer.alloc(1 << 20, 7), name = require('os').userInfo().username;
      let mib = 0, err = 'none';
      try { const fd = fs.openSync(${file}, 'w'); for (; mib < 200; mib++) fs.writeSync(fd, buf); fs.closeSync(fd); }
      catch (e) { err = e.code; }
      await report({ mib, err });
      setInterval(() => {}, 1000);`;
    const a = await h.probe(fill("'/shared/' + name + '/a.bin'"), { shared: { group }, resources: { diskMib: 96 } });
    const ra = await a.next();
    const b = await h.probe(fill("'/workspace/b.bin'"), { shared: { group }, resources: { diskMib: 96 } });
    const rb = await b.next();
    // One disk for both: A's file fills most of it, and B runs out far sooner than a disk of its own would let it.
    expect(ra.err).toBe('ENOSPC');
    expect(rb.err).toBe('ENOSPC');
    expect((ra.mib as number) + (rb.mib as number)).toBeLessThan(96);
    expect(b.info.workspaceDir).toBe(join(dut.opts.sandboxesDir, group, 'disk', 'members', b.info.id));
    await dut.driver.destroy(a.info.id);
    await dut.driver.destroy(b.info.id);
    expect(await mountsMentioning(group)).toEqual([]);
    expect(await exists(join(dut.opts.sandboxesDir, group))).toBe(false);
  });
});
