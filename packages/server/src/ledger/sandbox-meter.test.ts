import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../store/open.js';
import type { SessionRecord, Store } from '../store/store.js';
import { SandboxMeter } from './sandbox-meter.js';

/**
 * The meter's arithmetic, exactly: a real SQLite store, a clock the test moves, and a stand-in for the driver's
 * cgroup reading (the end-to-end test in test/usage-ledger.test.ts measures real sandboxes).
 */
const GIB = 1024 ** 3;
let dir: string;
let store: Store;
let now: number;
let memory: number | null;

function session(id: string, cpus?: number): SessionRecord {
  const t = new Date(now).toISOString();
  return {
    id,
    environment_id: 'env_1',
    agent_id: 'agent_1',
    agent_version: 1,
    agent: {},
    title: null,
    metadata: {},
    resources: [],
    vault_ids: [],
    budget: null,
    status: 'idle',
    berth: cpus === undefined ? {} : { resources: { cpus } },
    stats: {},
    sandbox_id: 'sbx_1',
    sandbox_state: 'starting',
    gateway_token_hash: id,
    sdk_session_id: id,
    runner_acked_seq: 0,
    created_at: t,
    updated_at: t,
    archived_at: null,
  };
}

function meter(): SandboxMeter {
  return new SandboxMeter({
    store,
    stats: async () => ({ memoryBytes: memory, cpuUsageUsec: null, pids: null }),
    intervalMs: 3_600_000, // never fires during a test: samples are driven by the hooks below
    logger: pino({ level: 'silent' }),
    now: () => now,
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meter-'));
  store = openSqlite(join(dir, 'berth.db'));
  await store.migrate();
  now = Date.parse('2026-05-01T00:00:00.000Z');
  memory = GIB / 2;
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sandbox meter', () => {
  it('writes wall, active and memory time of a sandbox, with vCPU-seconds at its CPU limit', async () => {
    await store.createSession(session('sesn_a', 2));
    const m = meter();
    m.sessionStarted('sesn_a', 'sbx_1', 'bwrap');
    now += 4_000;
    m.statusChanged('sesn_a', 'running');
    now += 6_000;
    m.statusChanged('sesn_a', 'idle');
    now += 10_000;
    memory = GIB * 1.5;
    await m.sessionStopping('sesn_a');
    await m.close();
    const u = (await store.sandboxUsages(['sesn_a'])).get('sesn_a');
    // 20 s alive, 6 s running; one interval whose only sample read 1.5 GiB; 2 vCPUs.
    expect(u).toEqual({ seconds: 20, active_seconds: 6, memory_gib_seconds: 30, vcpu_seconds: 40, intervals: 1 });
    const groups = await store.usageGroups({ groupBy: 'agent', limit: 5 });
    expect(groups.data.map((g) => [g.key, g.sandbox.seconds])).toEqual([['agent_1', 20]]);
  });

  it('splits a running turn across intervals and integrates memory between samples', async () => {
    await store.createSession(session('sesn_b'));
    const m = meter();
    m.sessionStarted('sesn_b', 'sbx_1', 'bwrap');
    m.statusChanged('sesn_b', 'running');
    now += 10_000;
    memory = GIB;
    // The periodic sample, called by hand (the timer calls the same method).
    await m.sample();
    now += 10_000;
    memory = GIB * 3;
    await m.sessionStopping('sesn_b');
    // A session the meter never saw start is ignored.
    await m.sessionStopping('sesn_unknown');
    await m.close();
    const u = (await store.sandboxUsages(['sesn_b'])).get('sesn_b');
    // 1 GiB over the first 10 s (no earlier sample), then the trapezoid of 1 and 3 GiB over the next 10 s.
    expect(u).toEqual({ seconds: 20, active_seconds: 20, memory_gib_seconds: 10 + 20, vcpu_seconds: 20, intervals: 2 });
  });

  it('keeps the last memory reading when the sandbox cannot be read', async () => {
    await store.createSession(session('sesn_c'));
    const m = meter();
    m.sessionStarted('sesn_c', 'sbx_1', 'bwrap');
    now += 2_000;
    await m.sample();
    memory = null;
    now += 2_000;
    await m.sessionStopping('sesn_c');
    await m.close();
    expect((await store.sandboxUsages(['sesn_c'])).get('sesn_c')?.memory_gib_seconds).toBe(2);
  });
});
