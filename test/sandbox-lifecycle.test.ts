import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { cgroupDirsFor, mountsContaining, processesMatching, processesOfUid, waitFor } from './procs.js';

type Ev = { id: string; type: string; [k: string]: unknown };
const bash = (command: string) => ({ content: [{ type: 'tool_use', name: 'Bash', input: { command } }] });
const text = (t: string) => ({ content: [{ type: 'text', text: t }] });

// The key is split so the full string never appears in a scenario, a command line or a transcript: only berthd
// holds it whole. The sandbox-side scan joins the halves at run time.
const KEY_A = 'sk-ant-api03-berthtest';
const KEY_B = `-${Math.random().toString(36).slice(2)}-upstream`;

describe.skipIf(e2eSkipReason() !== false)('sessions in real sandboxes', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ upstreamKey: KEY_A + KEY_B, config: { maxTurns: 4 } });
    const apiPort = new URL(t.app.url).port;
    const modelPort = new URL(t.app.scriptedModel!.url).port;
    const scan = [
      `K1='${KEY_A}'; K2='${KEY_B}'; K="$K1$K2"`,
      `F=$(grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=usr --exclude-dir=node_modules -e "$K" / 2>/dev/null | head -5)`,
      `E=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -cF -e "$K")`,
      `echo "FILES:[$F] ENVIRON:$E"`,
      `echo "INSTALL:[$(ls -A /opt/berth | tr '\\n' ' ')] [$(ls -A /opt/berth/packages | tr '\\n' ' ')]"`,
      `node -e "for (const p of [${apiPort}, ${modelPort}]) { const s = require('net').connect(p, '127.0.0.1'); s.on('connect', () => { console.log('CONNECTED ' + p); s.destroy(); }); s.on('error', (e) => console.log('REFUSED ' + p + ' ' + e.code)); }"`,
    ].join('; ');
    for (const s of [
      {
        name: 'long-tool',
        turns: [bash('node -e "setInterval(() => {}, 1000)" berth-interrupt-marker'), text('stopped')],
      },
      { name: 'loop', turns: [bash('echo looping')], after: 'repeat-last' },
      { name: 'secrets', turns: [bash(scan), text('scanned')] },
      {
        name: 'background',
        turns: [
          bash('setsid nohup node -e "setInterval(() => {}, 1000)" berth-bg-marker >/dev/null 2>&1 & echo started'),
          text('ok'),
        ],
      },
    ]) {
      t.app.scriptedModel!.addScenario(s as never);
    }
  });
  afterAll(async () => t?.close());

  async function newSession() {
    const { agentId, envId } = await agentAndEnv(t.client);
    return t.client.beta.sessions.create({ agent: agentId, environment_id: envId });
  }

  it('interrupt during a long tool call: idle within 3 s and the tool processes are gone', async () => {
    const { client } = t;
    const session = await newSession();
    const stream = await client.beta.sessions.events.stream(session.id);
    await say(client, session.id, '[scenario:long-tool] run forever');
    expect(await waitFor(() => processesMatching('berth-interrupt-marker').length > 0, 30_000)).toBe(true);
    const sentAt = Date.now();
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
    let idleAt = 0;
    for await (const raw of stream) {
      const e = raw as unknown as Ev;
      if (e.type === 'session.status_idle') {
        idleAt = Date.now();
        expect(e.stop_reason).toEqual({ type: 'end_turn' });
        break;
      }
    }
    expect(idleAt - sentAt).toBeLessThan(3000);
    expect(await waitFor(() => processesMatching('berth-interrupt-marker').length === 0, 1000)).toBe(true);
    // The session keeps working after an interrupt.
    expect((await client.beta.sessions.retrieve(session.id)).status).toBe('idle');
    await client.beta.sessions.delete(session.id);
  });

  it('a repeat-last tool loop stops at maxTurns with a clear session.error, then idles', async () => {
    const { client } = t;
    const session = await newSession();
    const events = await collectTurn(client, session.id, () => say(client, session.id, '[scenario:loop] loop'));
    const err = events.find((e) => e.type === 'session.error');
    expect(err).toBeDefined();
    expect(err!.error).toMatchObject({ type: 'tool_use_limit_reached_error', retry_status: { type: 'exhausted' } });
    expect(String((err!.error as { message: string }).message)).toMatch(/4/);
    expect(events.filter((e) => e.type === 'agent.tool_use').length).toBeLessThanOrEqual(4);
    expect(events.at(-1)!.type).toBe('session.status_idle');
    expect((await client.beta.sessions.retrieve(session.id)).status).toBe('idle');
    await client.beta.sessions.delete(session.id);
  });

  it('the sandbox holds no upstream key and cannot reach host loopback services', async () => {
    const { client, app } = t;
    const session = await newSession();
    const events = await collectTurn(client, session.id, () => say(client, session.id, '[scenario:secrets] scan'));
    const result = events.find((e) => e.type === 'agent.tool_result');
    const out = JSON.stringify(result?.content);
    expect(out).toContain('FILES:[] ENVIRON:0');
    // Of the installation, only the SDK's node_modules and the runner bundle are visible; no sources, no data dir.
    expect(out).toContain('INSTALL:[node_modules packages ] [runner ]');
    expect(out).toContain(`REFUSED ${new URL(app.url).port}`);
    expect(out).toContain(`REFUSED ${new URL(app.scriptedModel!.url).port}`);
    expect(out).not.toContain('CONNECTED');
    // Positive control: the key did reach the upstream, swapped in by the gateway.
    const keys = new Set(app.scriptedModel!.requests.map((r) => r.headers['x-api-key']));
    expect(keys).toEqual(new Set([KEY_A + KEY_B]));
    await client.beta.sessions.delete(session.id);
  });

  it('deleting a session whose sandbox is still starting leaves nothing behind', async () => {
    const session = await newSession();
    const sandboxId = (session as unknown as { berth: { sandbox: { id: string } } }).berth.sandbox.id;
    await t.client.beta.sessions.delete(session.id);
    expect(cgroupDirsFor(sandboxId)).toEqual([]);
    expect(mountsContaining(sandboxId)).toEqual([]);
    expect(await t.app.driver.inspect(sandboxId)).toBeUndefined();
  });

  it('deleting a session removes its processes (even detached ones), mounts and cgroups', async () => {
    const { client, app } = t;
    const session = await newSession();
    await collectTurn(client, session.id, () => say(client, session.id, '[scenario:background] start a daemon'));
    const current = await client.beta.sessions.retrieve(session.id);
    const sandboxId = (current as unknown as { berth: { sandbox: { id: string } } }).berth.sandbox.id;
    const info = await app.driver.inspect(sandboxId);
    expect(info?.status).toBe('running');
    expect(processesMatching('berth-bg-marker').length).toBeGreaterThan(0);
    expect(processesOfUid(info!.hostUid).length).toBeGreaterThan(0);
    expect(info?.cgroup).toBeDefined();
    expect(cgroupDirsFor(info!.cgroup!).length).toBeGreaterThan(0);

    const deleted = await client.beta.sessions.delete(session.id);
    expect(deleted).toMatchObject({ id: session.id, type: 'session_deleted' });
    // berthd reaps its own children asynchronously, so allow it a moment.
    expect(await waitFor(() => processesOfUid(info!.hostUid).length === 0, 2000)).toBe(true);
    expect(processesMatching('berth-bg-marker')).toEqual([]);
    expect(cgroupDirsFor(info!.cgroup!)).toEqual([]);
    expect(cgroupDirsFor(sandboxId)).toEqual([]);
    expect(mountsContaining(sandboxId)).toEqual([]);
    expect(existsSync(info!.workspaceDir)).toBe(false);
    await expect(client.beta.sessions.retrieve(session.id)).rejects.toMatchObject({ status: 404 });
  });
});
