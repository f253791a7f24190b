import { newId, SANDBOX_UID } from '@berth/protocol';
import { expect, it } from 'vitest';
import { SandboxDriverError } from '../errors.js';
import type { SuiteContext } from './context.js';
import { eventually, sandboxProcesses } from './host.js';

/** A member: writes a note in its outbox, reports, and tries another member's outbox when told its name. */
const MEMBER = `
const name = require('os').userInfo().username, other = process.env.OTHER;
fs.writeFileSync('/shared/' + name + '/note.txt', 'from ' + name);
await report({
  uid: process.getuid(),
  name,
  outboxes: fs.readdirSync('/shared').sort(),
  ...(other && {
    read: tryDo(() => fs.readFileSync('/shared/' + other + '/note.txt', 'utf8')),
    overwrite: tryDo(() => fs.writeFileSync('/shared/' + other + '/note.txt', 'x')),
    remove: tryDo(() => fs.unlinkSync('/shared/' + other + '/note.txt')),
  }),
});
setInterval(() => {}, 1000);
`;

const env = (other?: string): Record<string, string> => ({ PATH: '/usr/bin:/bin', ...(other && { OTHER: other }) });

/**
 * Shared sandboxes (`capabilities.shared`, docs/adr/0019-shared-sandboxes.md): members get distinct uids and
 * outboxes only they can write, are destroyed one by one, and the group goes with the last. A driver without the
 * capability must refuse a shared spec, never run it as an ordinary sandbox.
 */
export function sharedTests(ctx: SuiteContext): void {
  it('runs members of a shared sandbox with their own uid and outbox, or refuses shared specs', async () => {
    const group = newId('sharedSandbox');
    if (ctx.dut.driver.capabilities.shared !== true) {
      const refused = await ctx.h.probe(MEMBER, { shared: { group } }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(SandboxDriverError);
      expect((refused as SandboxDriverError).code).toBe('unsupported_resource');
      return;
    }
    const a = await ctx.h.probe(MEMBER, { shared: { group }, env: env() });
    expect(await a.next()).toEqual({ uid: SANDBOX_UID + 1, name: 'agent1', outboxes: ['agent1'] });
    const b = await ctx.h.probe(MEMBER, { shared: { group }, env: env('agent1') });
    expect(await b.next()).toEqual({
      uid: SANDBOX_UID + 2,
      name: 'agent2',
      outboxes: ['agent1', 'agent2'],
      read: 'from agent1',
      overwrite: 'error:EACCES',
      remove: 'error:EACCES',
    });
    expect(a.info.shared).toEqual({ group, uid: SANDBOX_UID + 1 });
    expect(b.info.shared).toEqual({ group, uid: SANDBOX_UID + 2 });
    // Members are destroyed one by one: the other keeps running.
    await ctx.dut.driver.destroy(a.info.id);
    expect(await sandboxProcesses(ctx.dut, a.info)).toEqual([]);
    expect((await ctx.dut.driver.inspect(b.info.id))?.status).toBe('running');
    expect((await sandboxProcesses(ctx.dut, b.info)).length).toBeGreaterThan(0);
    await ctx.dut.driver.destroy(b.info.id);
    expect(await eventually(async () => (await sandboxProcesses(ctx.dut, b.info)).length === 0)).toBe(true);
  });
}
