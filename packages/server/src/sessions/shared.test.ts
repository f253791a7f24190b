import { isId, newId } from '@berth/protocol';
import { describe, expect, it } from 'vitest';
import { UnavailableCgroupManager } from '../drivers/cgroups/index.js';
import { SHARED_MAX_MEMBERS } from '../drivers/driver.js';
import { GvisorDriver } from '../drivers/gvisor/gvisor-driver.js';
import { silentLogger } from '../drivers/logger.js';
import type { JsonObject } from '../store/store.js';
import { refuseUnshareable, SHARED_FIELD, SharedSandboxes, sharedSandboxOf } from './shared.js';

const session = (id: string, env = 'env_1', resources: JsonObject = { pids: 64 }) => ({
  id,
  environment_id: env,
  berth: { driver: 'bwrap', resources },
});

describe('SharedSandboxes', () => {
  it('puts sessions of one environment with the same resources into one shared sandbox', () => {
    const r = new SharedSandboxes();
    const g = r.join(session('s1'));
    expect(isId('sharedSandbox', g)).toBe(true);
    expect(r.join(session('s2'))).toBe(g);
    expect(r.join(session('s3', 'env_2'))).not.toBe(g);
    expect(r.join(session('s4', 'env_1', { pids: 128 }))).not.toBe(g);
  });

  it('opens a new shared sandbox once the last member left, or when one is full', () => {
    const r = new SharedSandboxes();
    const g = r.join(session('s1'));
    r.leave('s1');
    r.leave('s1'); // idempotent
    const h = r.join(session('s2'));
    expect(h).not.toBe(g);
    for (let i = 3; i <= SHARED_MAX_MEMBERS + 1; i++) expect(r.join(session(`s${i}`))).toBe(h);
    expect(r.join(session('overflow'))).not.toBe(h);
  });

  it('rebuilds membership from re-adopted sessions', () => {
    const r = new SharedSandboxes();
    const adopted = {
      ...session('s1'),
      berth: { ...session('s1').berth, [SHARED_FIELD]: 'shr_01ARZ3NDEKTSV4RRFFQ69G5FAV' },
    };
    r.adopt(adopted);
    expect(sharedSandboxOf(adopted)).toBe('shr_01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(r.join(session('s2'))).toBe('shr_01ARZ3NDEKTSV4RRFFQ69G5FAV');
    r.adopt(session('s3', 'env_9')); // not a member of any: nothing to rebuild
    expect(sharedSandboxOf(session('s3'))).toBeUndefined();
  });
});

describe('a driver without shared sandboxes', () => {
  // A real GvisorDriver: nothing is started (the refusals come before any host work), so runsc need not be here.
  const gvisor = new GvisorDriver({
    sandboxesDir: '/nonexistent/berth-shared-test',
    logger: silentLogger(),
    cgroups: new UnavailableCgroupManager('not needed: nothing is created'),
  });

  it('is refused at session creation, saying what to use instead', () => {
    expect(gvisor.capabilities.shared).toBe(false);
    expect(() => refuseUnshareable(gvisor)).toThrow(/gvisor driver cannot run shared sandboxes.*Use the bwrap driver/);
  });

  it('refuses a shared spec in create()', async () => {
    const spec = {
      id: newId('sandbox'),
      command: ['/bin/true'],
      env: {},
      runDir: '/nonexistent/run',
      installDir: '/nonexistent/install',
      resources: {},
      shared: { group: newId('sharedSandbox') },
    };
    await expect(gvisor.create(spec)).rejects.toThrow(/cannot make shared sandboxes/);
  });
});
