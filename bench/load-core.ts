import { loadavg } from 'node:os';
import Anthropic from '@anthropic-ai/sdk';
import type { BerthApp } from '@berth/server';
import { LiveSession, listIds, pool, waitReady } from './load-session.js';
import { cpuByCommand, cpuDelta } from './proc-cpu.js';
import { checkStream, type StreamCheck } from './load-check.js';
import { gcMemory, type MemorySample } from './memory.js';
import { quantile } from './stats.js';

/**
 * The load driver's core (issue 5): N concurrent sessions × M turns against a running berthd, through the official
 * SDK. Each session keeps one live SSE stream open across its turns; at the end that stream is compared with
 * events.list (every id exactly once, same order, no gaps), and every turn must end with `end_turn`.
 * Shared by `npm run bench -- load` and test/load.test.ts.
 */

export interface LoadOptions {
  sessions: number;
  turns: number;
  /** Pause between a session's turns (ms): 0 is closed-loop (each session sends its next turn at once). */
  thinkMs?: number;
  /** Sessions started at once while setting up (sandbox + CLI start-up is not part of a turn's latency). */
  startConcurrency?: number;
  /** A turn not idle after this long counts as incomplete. */
  turnTimeoutMs?: number;
  /**
   * Untimed turns each session takes during set-up (a fresh CLI's first turn costs several warm ones: its first
   * Bash call builds the shell snapshot). Their events are checked like the others.
   */
  warmupTurns?: number;
  /** Prints progress to stderr. */
  verbose?: boolean;
}

export interface LoadResult {
  sessions: number;
  turnsPerSession: number;
  warmupTurns: number;
  thinkMs: number;
  /** The host's 1-minute load average at the start and end of the turn phase (the machine may be shared). */
  loadAvg: [number, number];
  /** Sessions whose sandbox never became ready (their turns are not run). */
  failedSessions: number;
  setupMs: number;
  /** First send → last turn's idle, over all sessions. */
  wallMs: number;
  turnsCompleted: number;
  turnsPerSec: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  /** Median latency (ms) of each session's 1st, 2nd, … turn (the first turn of a fresh CLI costs more). */
  p50ByTurnMs: number[];
  /** Every completed turn's latency (ms), in completion order. */
  latencySamples: number[];
  /** Per session: its sandbox's cgroup memory after the last turn (sessions still live). */
  sandboxMemoryMib: { mean: number; max: number; total: number };
  /**
   * CPU seconds per completed turn during the turn phase: the bench process (berthd + scripted model + SDK client,
   * `process.cpuUsage()`) and all sandboxes (their cgroups' cpuacct).
   */
  cpuPerTurnS: { process: number; sandboxes: number };
  /** Sandbox CPU seconds of the turn phase by command (processes alive at its start and end; v1 cgroups only). */
  sandboxCpuByCommandS: Record<string, number>;
  /** berthd's process (the bench process: berthd, the scripted model and the client) after a GC: live - before. */
  server: { before: MemorySample; after: MemorySample; rssPerSessionMib: number; heapPerSessionMib: number };
  events: { live: number; listed: number; lost: number; duplicated: number; outOfOrder: number; extra: number };
  /** Requests the scripted model answered per completed turn (the CLI's own extra calls included). */
  modelRequestsPerTurn: number;
  /** Turns whose session.status_idle carried a stop reason other than end_turn. */
  badStopReasons: number;
  /** Turns that ended without an idle event in time. */
  incompleteTurns: number;
  errors: string[];
}

/** The scripted scenario of every load session: each turn runs one Bash tool call, then answers. */
export function loadScenario(turns: number): { name: string; turns: object[] } {
  const out: object[] = [];
  for (let t = 0; t < turns; t++) {
    out.push(
      {
        content: [{ type: 'tool_use', name: 'Bash', input: { command: `echo load-turn-${t}` } }],
        usage: { input_tokens: 100, output_tokens: 10 },
      },
      { content: [{ type: 'text', text: `Done ${t}.` }], usage: { input_tokens: 110, output_tokens: 5 } },
    );
  }
  return { name: `load-${turns}`, turns: out };
}

/** Runs the load against `app` (a berthd already started with the scripted model) and checks every stream. */
export async function runLoad(app: BerthApp, opts: LoadOptions): Promise<LoadResult> {
  const {
    sessions: n,
    turns: m,
    thinkMs = 0,
    startConcurrency = 6,
    turnTimeoutMs = 120_000,
    warmupTurns: w = 0,
  } = opts;
  const log = (s: string) => opts.verbose && process.stderr.write(`[load] ${s}\n`);
  const client = new Anthropic({ baseURL: app.url, apiKey: app.adminKey, maxRetries: 0, timeout: 600_000 });
  const scenario = loadScenario(w + m);
  app.scriptedModel!.addScenario(scenario as never);
  const agent = await client.beta.agents.create({
    name: 'load',
    model: 'claude-sonnet-4-5',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const env = await client.beta.environments.create({ name: 'load', config: { type: 'cloud' } });
  const errors: string[] = [];
  app.scriptedModel!.requests.splice(0);
  const before = await gcMemory();

  let badStopReasons = 0;
  /** One turn: send, then wait for the live stream's next idle. Resolves with what went wrong, if anything. */
  const turn = async (s: LiveSession, i: number, t: number): Promise<string | undefined> => {
    try {
      await client.beta.sessions.events.send(s.id, {
        events: [
          {
            type: 'user.message',
            content: [{ type: 'text', text: `[scenario:${scenario.name}] session ${i} turn ${t}` }],
          },
        ],
      });
    } catch (err) {
      return `${s.id} turn ${t} send: ${(err as Error).message}`;
    }
    const idle = await s.nextIdle(turnTimeoutMs);
    if (!idle || idle.type !== 'session.status_idle')
      return `${s.id} turn ${t}: ${idle ? idle.type : 'no idle event in time'}`;
    if (idle.stop_reason?.type !== 'end_turn') {
      badStopReasons++;
      const why = s.events.filter((e) => e.type === 'session.error').at(-1);
      return `${s.id} turn ${t}: stop_reason ${JSON.stringify(idle.stop_reason)}${why ? ` after ${JSON.stringify(why)}` : ''}`;
    }
    return undefined;
  };

  // Set-up: create the sessions and wait until each sandbox's CLI is ready; then open its stream.
  const t0 = performance.now();
  const live: Array<{ s: LiveSession; sandboxId: string; cgroup?: string; before: string[] }> = [];
  await pool(
    Array.from({ length: n }, (_, i) => i),
    startConcurrency,
    async (i) => {
      try {
        const s = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
        const sandboxId = await waitReady(client, s.id, 120_000);
        const stream = await client.beta.sessions.events.stream(s.id);
        const session = new LiveSession(s.id, stream as never);
        const cgroup = (await app.driver.inspect(sandboxId))?.cgroup;
        const before = await listIds(client, s.id);
        for (let t = 0; t < w; t++) {
          const failure = await turn(session, i, t);
          if (failure) throw new Error(`warm-up: ${failure}`);
        }
        live.push({ s: session, sandboxId, cgroup, before });
        if (live.length % 10 === 0) log(`${live.length}/${n} sessions ready`);
      } catch (err) {
        errors.push(`session ${i} set-up: ${(err as Error).message}`);
      }
    },
  );
  const setupMs = performance.now() - t0;
  log(`set-up ${Math.round(setupMs)} ms; running ${live.length} × ${m} turns`);

  // Timed turns: every session runs its M turns in sequence; all sessions at once.
  const sandboxCpu = async () => {
    let usec = 0;
    for (const { sandboxId } of live) usec += (await app.driver.stats(sandboxId))?.cpuUsageUsec ?? 0;
    return usec;
  };
  const cgroups = live.flatMap((x) => (x.cgroup ? [x.cgroup] : []));
  const byCommand0 = await cpuByCommand(cgroups);
  const cpu0 = { proc: process.cpuUsage(), box: await sandboxCpu() };
  let modelRequests = 0;
  const onRequest = () => modelRequests++;
  app.scriptedModel!.on('request', onRequest);
  const latencies: number[] = [];
  const byTurn: number[][] = Array.from({ length: m }, () => []);
  let incompleteTurns = (n - live.length) * m;
  const load0 = loadavg()[0]!;
  const t1 = performance.now();
  await Promise.all(
    live.map(async ({ s }, i) => {
      if (thinkMs > 0) await new Promise((r) => setTimeout(r, Math.random() * thinkMs));
      for (let t = 0; t < m; t++) {
        const start = performance.now();
        const failure = await turn(s, i, w + t);
        if (failure) {
          incompleteTurns += m - t;
          errors.push(failure);
          return;
        }
        const ms = performance.now() - start;
        latencies.push(ms);
        byTurn[t]!.push(ms);
        if (thinkMs > 0 && t < m - 1) await new Promise((r) => setTimeout(r, thinkMs));
      }
    }),
  );
  const wallMs = performance.now() - t1;
  const procCpu = process.cpuUsage(cpu0.proc);
  app.scriptedModel!.off('request', onRequest);
  const boxCpuUsec = (await sandboxCpu()) - cpu0.box;
  const byCommand = cpuDelta(byCommand0, await cpuByCommand(cgroups));
  const perTurn = (usec: number) => Math.round((usec / 1e6 / Math.max(1, latencies.length)) * 1000) / 1000;
  log(`turns done in ${Math.round(wallMs)} ms`);

  // Memory while every session is still live: each sandbox's cgroup, and the process after a GC.
  const sandboxBytes: number[] = [];
  for (const { sandboxId } of live) {
    const st = await app.driver.stats(sandboxId);
    if (st?.memoryBytes != null) sandboxBytes.push(st.memoryBytes);
  }
  app.scriptedModel!.requests.splice(0); // its request log (whole bodies) is the test double's, not berthd's
  const after = await gcMemory();

  // Event check: the live stream against events.list, per session.
  const checks: StreamCheck[] = [];
  await pool(live, 8, async ({ s, before: pre }) => {
    const listed = await listIds(client, s.id);
    await s.drain(listed.at(-1), 5_000);
    checks.push(
      checkStream(
        pre,
        s.events.map((e) => e.id),
        listed,
      ),
    );
  });
  await pool(live, 8, async ({ s }) => {
    await client.beta.sessions.delete(s.id).catch((err: Error) => errors.push(`${s.id} delete: ${err.message}`));
  });

  const sum = (f: (c: StreamCheck) => number) => checks.reduce((a, c) => a + f(c), 0);
  const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const active = Math.max(1, live.length);
  return {
    sessions: n,
    turnsPerSession: m,
    warmupTurns: w,
    thinkMs,
    loadAvg: [Math.round(load0 * 10) / 10, Math.round(loadavg()[0]! * 10) / 10],
    failedSessions: n - live.length,
    setupMs: Math.round(setupMs),
    wallMs: Math.round(wallMs),
    turnsCompleted: latencies.length,
    turnsPerSec: r1((latencies.length / wallMs) * 1000),
    latencyMs: {
      p50: r1(quantile(latencies, 0.5)),
      p95: r1(quantile(latencies, 0.95)),
      p99: r1(quantile(latencies, 0.99)),
      max: r1(Math.max(...latencies)),
      mean: r1(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
    },
    p50ByTurnMs: byTurn.map((xs) => r1(quantile(xs, 0.5))),
    latencySamples: latencies.map(r1),
    sandboxCpuByCommandS: byCommand,
    cpuPerTurnS: { process: perTurn(procCpu.user + procCpu.system), sandboxes: perTurn(boxCpuUsec) },
    sandboxMemoryMib: {
      mean: mib(sandboxBytes.reduce((a, b) => a + b, 0) / Math.max(1, sandboxBytes.length)),
      max: mib(Math.max(0, ...sandboxBytes)),
      total: mib(sandboxBytes.reduce((a, b) => a + b, 0)),
    },
    server: {
      before,
      after,
      rssPerSessionMib: r1((after.rssMib - before.rssMib) / active),
      heapPerSessionMib: Math.round(((after.heapMib - before.heapMib) / active) * 100) / 100,
    },
    events: {
      live: sum((c) => c.live),
      listed: sum((c) => c.listed),
      lost: sum((c) => c.lost),
      duplicated: sum((c) => c.duplicated),
      outOfOrder: sum((c) => c.outOfOrder),
      extra: sum((c) => c.extra),
    },
    modelRequestsPerTurn: Math.round((modelRequests / Math.max(1, latencies.length)) * 100) / 100,
    badStopReasons,
    incompleteTurns,
    errors: [...errors, ...checks.flatMap((c) => c.problems)],
  };
}
