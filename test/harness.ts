import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { createLogger, loadConfig, startBerth, type BerthApp, type ConfigKey } from '@berth/server';

/**
 * End-to-end harness: a real berthd (SQLite, bwrap driver, real runner and Claude CLI) with the scripted model as
 * upstream, and the official SDK as the client. Everything it starts is stopped by `close()`.
 */
export interface TestBerth {
  app: BerthApp;
  client: Anthropic;
  /** The "real" upstream key berthd holds; no sandbox may ever see it. */
  upstreamKey: string;
  dataDir: string;
  close(): Promise<void>;
}

/** Why end-to-end tests cannot run here, or false when they can. */
export function e2eSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'end-to-end tests need root (cgroups and per-sandbox uids)';
  return false;
}

/**
 * Offset added to every test uid range: lets two checkouts (git worktrees) run their suites at the same time on one
 * host without sharing sandbox uids. Unset in CI.
 */
export function testUidBase(): number {
  const n = Number(process.env.BERTH_TEST_UID_BASE ?? 0);
  return Number.isInteger(n) && n >= 0 && n < 1_000_000_000 ? n : 0;
}

/**
 * Config that enables the gVisor driver next to bwrap, with a host uid range of its own: `offset` keeps test files
 * apart, the worker's pool id keeps parallel workers apart.
 */
export function gvisorTestConfig(offset: number): { drivers: string[]; gvisorUidRangeStart: number } {
  return {
    drivers: ['bwrap', 'gvisor'],
    gvisorUidRangeStart: testUidBase() + offset + (Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 16,
  };
}

/** A log sink for `startTestBerth({logStream})` that keeps everything berthd writes, for tests that search it. */
export function logCapture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

/** berthd instances this test process started (for distinct uid ranges). */
let instances = 0;

export async function startTestBerth(
  opts: {
    scenarios?: object[];
    config?: Partial<Record<ConfigKey, unknown>>;
    upstreamKey?: string;
    /** Where berthd's log lines go (default stderr); tests that grep the log pass a capturing stream. */
    logStream?: NodeJS.WritableStream;
  } = {},
): Promise<TestBerth> {
  // Short paths: unix socket paths must stay under 108 bytes.
  const dataDir = mkdtempSync(join(tmpdir(), 'bt-'));
  const scenarioDir = join(dataDir, 'scenarios');
  mkdirSync(scenarioDir);
  for (const s of opts.scenarios ?? []) {
    writeFileSync(join(scenarioDir, `${(s as { name: string }).name}.json`), JSON.stringify(s));
  }
  const upstreamKey = opts.upstreamKey ?? `sk-ant-test-${Math.random().toString(36).slice(2)}`;
  // Test files run in parallel workers, each with its own berthd: give each instance its own host uid range, or
  // two sandboxes of different instances could share a uid and the cleanup checks would see each other's processes.
  const uidRangeStart =
    testUidBase() + 200_000 + ((Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 64 + (instances++ % 64)) * 16;
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      scriptedModel: true,
      scenarios: [scenarioDir],
      anthropicApiKey: upstreamKey,
      adminKey: 'bsk_test_admin_key_0123456789',
      logLevel: process.env.BERTH_TEST_LOG ?? 'warn',
      modelMaxRetries: 0,
      uidRangeStart,
      uidRangeCount: 16,
      // A supplied key, as production should have (a generated one would log a warning in every test).
      vaultMasterKey: randomBytes(32).toString('base64'),
      // Tests leave nothing behind: closing destroys every sandbox (production leaves persistent ones to re-adopt).
      stopSandboxesOnExit: true,
      ...opts.config,
    },
  );
  const app = await startBerth(config, { logger: createLogger(config.logLevel, opts.logStream ?? process.stderr) });
  const client = new Anthropic({ baseURL: app.url, apiKey: config.adminKey!, maxRetries: 0 });
  return {
    app,
    client,
    upstreamKey,
    dataDir,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Ev = { id: string; type: string; [k: string]: unknown };

/**
 * Opens the stream, runs `start`, and collects events until idle (not requires_action, unless `untilRequiresAction`)
 * or terminated. `opts` may be a timeout in ms.
 */
export async function collectTurn(
  client: Anthropic,
  sessionId: string,
  start: () => Promise<unknown>,
  opts: number | { timeoutMs?: number; untilRequiresAction?: boolean; onTimeout?: 'throw' | 'return' } = {},
): Promise<Ev[]> {
  const {
    timeoutMs = 60_000,
    untilRequiresAction = false,
    onTimeout = 'throw',
  } = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const stream = await client.beta.sessions.events.stream(sessionId);
  const events: Ev[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stream.controller.abort();
  }, timeoutMs);
  let ended = false;
  try {
    await start();
    for await (const raw of stream) {
      const e = raw as unknown as Ev;
      events.push(e);
      if (e.type === 'session.status_terminated') break;
      if (e.type !== 'session.status_idle') continue;
      if (untilRequiresAction || (e.stop_reason as { type: string }).type !== 'requires_action') break;
    }
    ended = !timedOut;
  } catch (err) {
    if (!timedOut) throw err;
  } finally {
    clearTimeout(timer);
  }
  if (!ended && onTimeout === 'throw') {
    // Say where the turn stood, so a hang can be told from a slow machine.
    const s = (await client.beta.sessions.retrieve(sessionId).catch(() => undefined)) as
      { status?: string; berth?: { state?: string } } | undefined;
    throw new Error(
      `the turn of ${sessionId} did not end within ${timeoutMs} ms (session ${s?.status}/${s?.berth?.state}); ` +
        `events so far: ${events.map((e) => e.type).join(' ') || 'none'}`,
    );
  }
  return events;
}

/** Sends one user text message. */
export function say(client: Anthropic, sessionId: string, text: string) {
  return client.beta.sessions.events.send(sessionId, {
    events: [{ type: 'user.message', content: [{ type: 'text', text }] }],
  });
}

/** Creates an agent with the full toolset and a cloud environment. */
export async function agentAndEnv(client: Anthropic, system?: string): Promise<{ agentId: string; envId: string }> {
  const agent = await client.beta.agents.create({
    name: 'test-agent',
    model: 'claude-sonnet-4-5',
    ...(system ? { system } : {}),
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const env = await client.beta.environments.create({ name: 'test-env', config: { type: 'cloud' } });
  return { agentId: agent.id, envId: env.id };
}

/** Every regular file below `dir` (for the tests that search a tree for secrets). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) out.push(...filesUnder(p));
    else if (st?.isFile()) out.push(p);
  }
  return out;
}
