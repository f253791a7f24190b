import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { createLogger, loadConfig, startBerth, type BerthApp } from '@berth/server';
import { LogTap } from './berthd-log.js';
import { firstRequest } from './model-requests.js';
import { quantile } from './stats.js';

/**
 * B7: hibernate + resume round trip of a hybrid session with a 100 MB workspace (97 MB of random bytes in one file
 * plus 3000 random 1 kB files). Each round: `POST /v1/berth/sessions/{id}/hibernate` until it answers (the session
 * is hibernated: snapshot saved, sandbox destroyed), then a `user.message` that resumes it, until the first model
 * request, the first agent event and the turn's end. berthd's own log lines give the breakdown. With the server's
 * default disk quota the snapshot is the sandbox's disk image (ADR 0021); each round prints which form it took.
 */

/** The workspace B7 hibernates: `bigBytes` of random bytes in one file plus `smallFiles` random 1 kB files. */
export interface Workload {
  bigBytes: number;
  smallFiles: number;
}
export const WORKLOAD: Workload = { bigBytes: 97_000_000, smallFiles: 3000 };

function scenario(w: Workload) {
  const setup =
    `mkdir -p /workspace/data /workspace/src && head -c ${w.bigBytes} /dev/urandom > /workspace/data/big.bin && ` +
    `head -c ${w.smallFiles * 1000} /dev/urandom > /tmp/small && cd /workspace/src && split -b 1000 -a 4 /tmp/small f && ` +
    'rm /tmp/small && ls | wc -l && du -sb /workspace';
  return {
    name: 'bench-hibernate',
    turns: [
      { content: [{ type: 'tool_use', name: 'Bash', input: { command: setup, description: 'fill the workspace' } }] },
      { content: [{ type: 'text', text: 'ok' }] },
    ],
    after: 'repeat-last',
  };
}
type Ev = { type: string; stop_reason?: { type: string }; content?: unknown };

/** Sends one message and follows the stream to the turn's end; times are ms after the send began. */
async function turn(client: Anthropic, app: BerthApp, id: string, text: string) {
  const stream = await client.beta.sessions.events.stream(id);
  const req = firstRequest(app, text);
  const t0 = performance.now();
  const ms: Record<string, number> = {};
  const results: Ev[] = [];
  await client.beta.sessions.events.send(id, {
    events: [{ type: 'user.message', content: [{ type: 'text', text }] }],
  });
  ms.send_returned = performance.now() - t0;
  for await (const raw of stream) {
    const e = raw as unknown as Ev;
    const at = performance.now() - t0;
    if (e.type === 'user.message') ms.echo ??= at;
    if (e.type.startsWith('agent.')) ms.first_agent_event ??= at;
    if (e.type === 'agent.tool_result') results.push(e);
    if (e.type === 'session.error') throw new Error(`session.error: ${JSON.stringify(e)}`);
    if (e.type === 'session.status_idle' && e.stop_reason?.type !== 'requires_action') break;
  }
  ms.idle = performance.now() - t0;
  ms.first_model_request = (await req) - t0;
  return { ms, results, t0 };
}

/** The uid range for this bench's sandboxes: the default one, moved by BERTH_TEST_UID_BASE like the tests'. */
export function benchUidRange(offset: number): { uidRangeStart: number; uidRangeCount: number } {
  const base = Number(process.env.BERTH_TEST_UID_BASE ?? 0);
  return { uidRangeStart: (Number.isInteger(base) && base > 0 ? base : 0) + 200_000 + offset, uidRangeCount: 64 };
}

export async function benchHibernate(n: number, workload: Workload = WORKLOAD): Promise<object[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bh-'));
  const key = 'bench-admin-key-0123456789';
  const tap = new LogTap();
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      scriptedModel: true,
      adminKey: key,
      anthropicApiKey: 'bench-upstream',
      logLevel: 'info',
      stopSandboxesOnExit: true,
      ...benchUidRange(0),
    },
  );
  const app = await startBerth(config, { logger: createLogger('info', tap) });
  app.scriptedModel!.addScenario(scenario(workload) as never);
  const client = new Anthropic({ baseURL: app.url, apiKey: key, maxRetries: 0 });
  const post = (path: string) =>
    fetch(`${app.url}${path}`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' } });
  try {
    const agent = await client.beta.agents.create({
      name: 'bench',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await client.beta.environments.create({
      name: 'bench-hybrid',
      config: { type: 'cloud' },
      berth: { lifecycle: { pattern: 'hybrid', hibernate_after_s: 86_400 } },
    } as never);
    const s = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    await waitState(client, s.id, 'ready');
    const fresh = { ready: tap.find(0, 'sandbox ready', s.id)!, agent: tap.find(0, 'agent ready', s.id)! };
    console.log(
      `\nB7 fresh session (empty workspace): runner ready ${num(fresh.ready.ms)} ms, ` +
        `CLI start ${num(fresh.agent.ms) - num(fresh.ready.ms)} ms`,
    );
    const setup = await turn(client, app, s.id, '[scenario:bench-hibernate] fill the workspace');
    console.log(`\nB7 workspace: ${JSON.stringify(setup.results[0]?.content).slice(0, 200)}`);

    const rows: Record<string, number>[] = [];
    for (let i = 0; i < n + 1; i++) {
      await waitState(client, s.id, 'ready');
      const mark = tap.mark();
      const h0 = performance.now();
      const h = await post(`/v1/berth/sessions/${s.id}/hibernate`);
      if (h.status !== 200) throw new Error(`hibernate: ${h.status} ${await h.text()}`);
      const hibernateMs = performance.now() - h0;
      const saved = tap.find(mark, 'snapshot saved', s.id)!;
      const hib = tap.find(mark, 'session hibernated', s.id)!;
      const r = await turn(client, app, s.id, `round ${i}`);
      const ready = tap.find(mark, 'sandbox ready', s.id)!;
      const agentReady = tap.find(mark, 'agent ready', s.id)!;
      const resuming = tap.find(mark, 'resuming a hibernated session', s.id)!;
      const row = {
        round_trip: hibernateMs + r.ms.first_model_request!,
        hibernate: hibernateMs,
        quiesce: num(saved.quiesceMs),
        snapshot_save: num(saved.saveMs),
        destroy: num(hib.destroyMs),
        snapshot_mb: num(saved.bytes) / 1e6,
        resume_to_echo: r.ms.echo!,
        resume_to_first_model_request: r.ms.first_model_request!,
        resume_to_first_agent_event: r.ms.first_agent_event!,
        resume_to_idle: r.ms.idle!,
        relaunch_scheduled: resuming.at - r.t0,
        create: num(ready.createdMs),
        restore: num(ready.preparedMs) - num(ready.createdMs),
        runner_ready: num(ready.ms),
        cli_start: num(agentReady.ms) - num(ready.ms),
        agent_ready: num(agentReady.ms),
      };
      if (i > 0) rows.push(row); // round 0 warms up
      console.log(
        `  round ${i} (snapshot: ${String(saved.via)}): ${Object.entries(row)
          .map(([k, v]) => `${k} ${Math.round(v)}`)
          .join(', ')}`,
      );
    }
    const med = Object.fromEntries(
      Object.keys(rows[0]!).map((k) => [
        k,
        round(
          quantile(
            rows.map((r) => r[k]!),
            0.5,
          ),
        ),
      ]),
    );
    const p95 = round(
      quantile(
        rows.map((r) => r.round_trip!),
        0.95,
      ),
    );
    console.log(`\nB7: hibernate + resume round trip, 100 MB workspace (n=${rows.length}, medians in ms)`);
    for (const [k, v] of Object.entries(med)) console.log(`  ${k.padEnd(32)} ${v}`);
    const verdict = med.round_trip! <= 1500 ? 'meets' : 'MISSES';
    console.log(`  round trip median ${med.round_trip} ms (p95 ${p95})  target <= 1500 ms -> ${verdict}`);
    await client.beta.sessions.delete(s.id);
    return [
      {
        id: 'B7',
        title: 'hibernate + resume round trip, 100 MB workspace',
        n: rows.length,
        median_ms: med,
        p95_round_trip_ms: p95,
        target_ms: 1500,
        meets: verdict === 'meets',
        rows,
      },
    ];
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : NaN;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export async function waitState(client: Anthropic, id: string, state: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = (await client.beta.sessions.retrieve(id)) as unknown as { berth: { state: string } };
    if (s.berth.state === state) return;
    if (Date.now() > end) throw new Error(`session ${id} did not reach berth.state ${state} in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
