import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gvisorTestConfig,
  logCapture,
  collectTurn,
  e2eSkipReason,
  say,
  startTestBerth,
  type TestBerth,
} from '../harness.js';
import { attempts, type Attempt, type AttemptContext, type Driver, type Group } from './attempts.js';
import { startEscapeHost, type EscapeHost } from './fixtures.js';
import { judge, writeReport, type Outcome } from './report.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/** Resource limits of the sessions each group runs in: small, so a resource attack hits them fast. */
const LIMITS: Record<Group, object> = {
  host: { pids: 256 },
  net: { pids: 256 },
  cred: { pids: 256 },
  fork: { pids: 64 },
  mem: { memory_mib: 512 },
  disk: { disk_mib: 64 },
  fd: { pids: 256 },
  cpu: { cpus: 0.2 },
};

/** Why the suite cannot run for `driver` here, or false. */
export function escapeSkipReason(driver: Driver): string | false {
  const e2e = e2eSkipReason();
  if (e2e !== false) return e2e;
  if (driver === 'gvisor' && !existsSync('/usr/bin/runsc') && !existsSync('/usr/local/bin/runsc'))
    return 'runsc not installed: apt-get install runsc (scripts/setup.sh --test does)';
  return false;
}

function throttledPeriods(cgroup: string): number {
  const file = existsSync('/sys/fs/cgroup/cpu/berth')
    ? `/sys/fs/cgroup/cpu/berth/${cgroup}/cpu.stat`
    : `/sys/fs/cgroup/berth/${cgroup}/cpu.stat`;
  return Number(/^nr_throttled (\d+)/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
}

function filesNamed(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesNamed(p, name));
    else if (e.name === name) out.push(p);
  }
  return out;
}

function toolOutputs(events: Ev[]): string[] {
  return events
    .filter((e) => e.type === 'agent.tool_result')
    .map((e) => (e.content as { text?: string }[]).map((b) => b.text ?? '').join('\n'));
}

/** The names of the attempts (the table with placeholder values), so each can be its own test. */
function attemptNames(): Attempt[] {
  const fake = { dataDir: '/x', sleeper: { pid: 1 }, hostKey: { serial: 1, payload: 'x' } } as unknown as EscapeHost;
  return attempts({
    host: fake,
    berthPid: 1,
    secrets: SECRET_NAMES.map((name) => ({ name, value: 'x' })),
    canary: 'x',
    forgedMarker: 'x',
    victimSleep: 1,
  });
}
const SECRET_NAMES = ['upstream-key', 'vault-env-secret', 'vault-bearer-token'];

/**
 * Defines the escape suite for one driver: hostile sessions driven by the real CLI through scripted scenarios try
 * every attempt of the table; each attempt is one test; a well-behaved session runs alongside and must finish.
 */
export function defineEscapeSuite(driver: Driver): void {
  const reason = escapeSkipReason(driver);
  describe.skipIf(reason !== false)(`escape suite (${driver})${reason ? ` (skipped: ${reason})` : ''}`, () => {
    let host: EscapeHost;
    let t: TestBerth;
    const logs = logCapture();
    const bodies: string[] = [];
    const outcomes = new Map<string, Outcome>();
    let ctx: AttemptContext;
    let table: Attempt[];
    const wellBehaved: Ev[][] = [];
    const hostFailures: string[] = [];

    /** Errors berthd (this process) did not handle while the attempts ran: a sandbox must not be able to cause one. */
    const uncaught: string[] = [];
    const onUncaught = (err: Error) => uncaught.push(`${err.name}: ${err.message}`);

    beforeAll(async () => {
      process.on('uncaughtException', onUncaught);
      host = await startEscapeHost();
      const secretValue = (tag: string) => `${tag}-${randomBytes(12).toString('hex')}`;
      const secrets = {
        'upstream-key': `sk-ant-escape-${randomBytes(12).toString('hex')}`,
        'vault-env-secret': secretValue('envsecret'),
        'vault-bearer-token': secretValue('bearer'),
      };
      ctx = {
        host,
        berthPid: process.pid,
        secrets: SECRET_NAMES.map((name) => ({ name, value: secrets[name as keyof typeof secrets] })),
        canary: `CANARY-${randomBytes(8).toString('hex')}`,
        forgedMarker: `FORGED-${randomBytes(8).toString('hex')}`,
        victimSleep: 600 + Math.floor(Math.random() * 300),
      };
      table = attempts(ctx).filter((a) => a.skip?.[driver] === undefined);
      for (const a of attempts(ctx).filter((x) => x.skip?.[driver] !== undefined)) {
        outcomes.set(a.id, { id: a.id, category: a.category, driver, blocked: 'skipped', evidence: a.skip![driver]! });
      }
      const groups = [...new Set(table.map((a) => a.group))];
      const scenarios: object[] = groups.map((g) => ({
        name: `escape-${g}`,
        turns: [
          ...table
            .filter((a) => a.group === g)
            .map((a) => ({
              content: [
                { type: 'tool_use', name: 'Bash', input: { command: `${a.command} 2>&1; echo "@@${a.id} rc=$?"` } },
              ],
            })),
          { content: [{ type: 'text', text: 'Escape attempts done.' }] },
        ],
      }));
      scenarios.push({
        name: 'escape-victim',
        turns: [
          {
            content: [
              {
                type: 'tool_use',
                name: 'Bash',
                input: {
                  command: `echo ${ctx.canary} > /workspace/canary.txt; (setsid sleep ${ctx.victimSleep} >/dev/null 2>&1 &); echo victim-ready`,
                },
              },
            ],
          },
          { content: [{ type: 'text', text: 'Victim ready.' }] },
        ],
      });
      const logStream = logs.stream;
      t = await startTestBerth({
        scenarios,
        logStream,
        upstreamKey: secrets['upstream-key'],
        config: {
          dataDir: host.dataDir,
          port: host.berthPort,
          ...gvisorTestConfig(600_000),
        },
      });
      // Every response body the suite sees, for the secret grep.
      const c = t.client;
      const agent = await c.beta.agents.create({
        name: 'escape',
        model: 'claude-sonnet-4-5',
        tools: [{ type: 'agent_toolset_20260401' }],
      });
      const vault = await c.beta.vaults.create({ display_name: 'escape' });
      await c.beta.vaults.credentials.create(vault.id, {
        auth: {
          type: 'environment_variable',
          secret_name: 'ESCAPE_TOKEN',
          secret_value: secrets['vault-env-secret'],
          networking: { type: 'limited', allowed_hosts: ['api.example.com'] },
        },
      });
      await c.beta.vaults.credentials.create(vault.id, {
        auth: {
          type: 'static_bearer',
          mcp_server_url: 'https://mcp.example.com/sse',
          token: secrets['vault-bearer-token'],
        },
      });
      const networking = { type: 'limited', allowed_hosts: [`127.0.0.2:${host.allowedPort}`] };
      const session = async (g: Group | 'victim' | 'good'): Promise<string> => {
        const hostile = g !== 'victim' && g !== 'good';
        const env = (await c.post('/v1/environments', {
          body: {
            name: `escape-${g}`,
            config: { type: 'cloud', networking },
            berth: { driver: hostile ? driver : 'bwrap', resources: hostile ? LIMITS[g] : {} },
          },
        })) as { id: string };
        const s = (await c.post('/v1/sessions', {
          body: { agent: agent.id, environment_id: env.id, ...(hostile ? { vault_ids: [vault.id] } : {}) },
        })) as { id: string };
        return s.id;
      };
      const sandboxOf = async (id: string) =>
        ((await c.beta.sessions.retrieve(id)) as unknown as { berth: { sandbox: { id: string } } }).berth.sandbox.id;

      // The victim: a canary in its workspace and a background process.
      const victim = await session('victim');
      const vEvents = await collectTurn(c, victim, () => say(c, victim, '[scenario:escape-victim] go'), 120_000);
      expect(toolOutputs(vEvents as Ev[])[0]).toContain('victim-ready');
      const vsbx = await sandboxOf(victim);
      const canaryFiles = () => filesNamed(join(host.dataDir, 'sandboxes'), 'canary.txt');
      expect(canaryFiles().length).toBeGreaterThan(0);
      const sleeping = () => {
        try {
          return execFileSync('pgrep', ['-f', `^sleep ${ctx.victimSleep}$`], { encoding: 'utf8' }).trim().length > 0;
        } catch {
          return false;
        }
      };
      expect(sleeping()).toBe(true);

      const ids = new Map<Group, string>();
      const runWave = async (wave: Group[]) => {
        const hostile = wave.filter((g) => groups.includes(g));
        for (const g of hostile) ids.set(g, await session(g));
        const good = await session('good');
        const results = await Promise.all([
          ...hostile.map((g) =>
            collectTurn(
              c,
              ids.get(g)!,
              () => say(c, ids.get(g)!, `[scenario:escape-${g}] victim=${victim} vsbx=${vsbx}`),
              // An attempt that never ends is judged (and reported) like the others.
              { timeoutMs: 300_000, onTimeout: 'return' },
            ),
          ),
          collectTurn(c, good, () => say(c, good, '[scenario:write-and-run] go'), 300_000),
        ]);
        wellBehaved.push(results.pop() as Ev[]);
        hostile.forEach((g, i) => {
          const events = results[i] as Ev[];
          bodies.push(JSON.stringify(events));
          const outputs = toolOutputs(events);
          table
            .filter((a) => a.group === g)
            .forEach((a, j) => {
              let o = judge(a, driver, outputs[j]);
              // gVisor's memory limit kills the whole sandbox: contained, if the session says so and others go on.
              if (!o.blocked && a.group === 'mem' && driver === 'gvisor' && outputs[j] === undefined) {
                const error = events.find((e) => e.type === 'session.error')?.error as { message?: string } | undefined;
                if (/memory limit of 512 MiB/.test(error?.message ?? ''))
                  o = { ...o, blocked: true, evidence: 'the sandbox was killed at its memory limit (gVisor)' };
                else
                  o = { ...o, evidence: `${o.evidence}; the session's events: ${events.map((e) => e.type).join(' ')}` };
              }
              outcomes.set(a.id, o);
            });
        });
      };
      await runWave(['host', 'net', 'cred']);
      await runWave(['fork', 'mem', 'disk', 'fd', 'cpu']);

      // Host-side proof for the attempts whose effect is only visible outside.
      const fail = (id: string, why: string) => {
        const o = outcomes.get(id);
        if (o) outcomes.set(id, { ...o, blocked: false, evidence: `host check: ${why}` });
        hostFailures.push(`${id}: ${why}`);
      };
      if (uncaught.length > 0)
        fail('egress-socket-reset', `berthd threw ${uncaught.length} uncaught error(s): ${uncaught[0]}`);
      const canaries = canaryFiles();
      if (canaries.length === 0 || canaries.some((f) => readFileSync(f, 'utf8').trim() !== ctx.canary))
        fail('victim-write', 'the victim canary changed or vanished');
      if (filesNamed(host.dataDir, 'pwned.txt').length > 0) fail('victim-write', 'a pwned.txt exists on the host');
      if (!sleeping()) fail('victim-signal', "the victim's background process is gone");
      if (host.sleeper.exitCode !== null || host.sleeper.signalCode !== null)
        fail('victim-signal', 'the host sleeper was killed');
      if (host.hits.secret > 0) fail('host-loopback-direct', `the secret service got ${host.hits.secret} requests`);
      if (host.hits.abstract > 0) fail('host-abstract-socket', 'the abstract socket got a connection');
      if (host.hits.denied > 0)
        fail('redirect-to-disallowed', `the disallowed origin got ${host.hits.denied} requests`);
      const victimEvents = JSON.stringify((await c.beta.sessions.events.list(victim, { limit: 1000 })).data);
      if (victimEvents.includes(ctx.forgedMarker))
        fail('control-socket-forgery', 'the forged event reached the victim');
      if (ids.has('cpu')) {
        const sid = await sandboxOf(ids.get('cpu')!);
        const info = await t.app.drivers.get(driver)!.inspect(sid);
        const throttled = info?.cgroup ? throttledPeriods(info.cgroup) : 0;
        if (throttled === 0) fail('cpu-spin', 'the cgroup was never throttled');
        else
          outcomes.set('cpu-spin', {
            ...outcomes.get('cpu-spin')!,
            evidence: `throttled in ${throttled} CFS periods at cpus 0.2`,
          });
      }
      const audit = (await c.get(`/v1/berth/sessions/${ids.get('net')}/egress`)) as {
        data: { host: string; decision: string }[];
      };
      bodies.push(JSON.stringify(audit));
      const deniedHosts = new Set(audit.data.filter((r) => r.decision === 'denied').map((r) => r.host));
      for (const h of ['127.0.0.3', '169.254.169.254', 'evil.example.com', '127.0.0.1'])
        if (!deniedHosts.has(h)) hostFailures.push(`egress audit has no denial for ${h}`);
      for (const s of await Promise.all([...ids.values(), victim].map((id) => c.beta.sessions.retrieve(id))))
        bodies.push(JSON.stringify(s));
      writeReport(
        driver,
        attemptNames().map(
          (a) => outcomes.get(a.id) ?? { id: a.id, category: a.category, driver, blocked: false, evidence: 'not run' },
        ),
      );
    }, 900_000);

    afterAll(async () => {
      process.off('uncaughtException', onUncaught);
      await t?.close();
      await host?.close();
    });

    for (const a of attemptNames()) {
      it(`${a.category}: ${a.id} is blocked`, () => {
        const o = outcomes.get(a.id);
        if (o?.blocked === 'skipped') return;
        expect(o, `attempt ${a.id}`).toMatchObject({ blocked: true });
      });
    }

    it('the well-behaved sessions finished their turns normally while the hostile ones ran', () => {
      expect(wellBehaved).toHaveLength(2);
      for (const events of wellBehaved) {
        expect(toolOutputs(events).join('\n')).toContain('Hello from Berth!');
        expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
      }
    });

    it('the host saw no effect of any attempt and the proxy audited the denials', () => {
      expect(hostFailures).toEqual([]);
    });

    it('the upstream key and vault secrets appear in no API response and no log line', () => {
      const haystack = `${bodies.join('\n')}\n${logs.text()}`;
      expect(logs.text().length).toBeGreaterThan(0);
      for (const s of ctx.secrets) expect(haystack.includes(s.value), s.name).toBe(false);
    });
  });
}
