import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { collectTurn, e2eSkipReason, say, testUidBase } from './harness.js';
import { freePort, startBerthdProcess } from './berthd-process.js';
import { cgroupDirsFor, mountsUnder, processesOfUid, waitFor } from './procs.js';

const ADMIN_KEY = 'bsk_test_admin_key_hibcrash_0123456789';

type Wire = { id: string; status: string; berth: { state: string; sandbox: { id: string | null } } };

const bash = (command: string) => ({
  content: [{ type: 'tool_use', name: 'Bash', input: { command, description: 'step' } }],
});

/**
 * berthd killed (SIGKILL) in the middle of a hibernation loses nothing: at its next start the hibernation is
 * completed from what is left (the sandbox, or the snapshot already taken), the session is hibernated with no
 * process left, and its next message resumes it with the same files (sha256-checked) and the whole conversation.
 * Two ways in: a deterministic one (killed right after the first step, the `hibernating` state, was stored) and a
 * real race (killed as soon as the agent process of a hibernating session has ended, wherever berthd is by then),
 * each with and without a workspace disk (the disk image and the tar snapshot).
 */
describe.skipIf(e2eSkipReason() !== false)('kill -9 of berthd mid-hibernation', () => {
  const root = mkdtempSync(join(tmpdir(), 'bhc-'));
  // Traversable by sandbox uids, as a data dir is in production: sandboxes are then not staged (a staged sandbox's
  // root bwrap holds a copy of every host mount, so a disk mounted meanwhile could not be handed over; that case,
  // the tar fallback, is in drivers/disk/handover.test.ts and test/hybrid.test.ts).
  chmodSync(root, 0o711);
  const children: ChildProcess[] = [];
  const uidStart = testUidBase() + 160_000 + (Number(process.env.VITEST_POOL_ID ?? 0) % 64) * 16;

  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  /** What the berthds of the running case logged. */
  let log = '';
  async function startBerthd(dataDir: string, port: number, extra: string[]): Promise<ChildProcess> {
    const scenarios = join(dataDir, 'scenarios');
    const onLog = (text: string) => (log += text);
    const child = await startBerthdProcess({ dataDir, port, scenarios, adminKey: ADMIN_KEY, uidStart, extra, onLog });
    children.push(child);
    return child;
  }

  async function kill(child: ChildProcess): Promise<void> {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }

  it.each([
    { disk: true, flags: [] as string[] },
    { disk: false, flags: ['--default-disk-mib', '0'] },
  ])(
    'the hibernation completes at the next start (workspace disk: $disk)',
    async ({ disk, flags }) => {
      const dataDir = join(root, disk ? 'disk' : 'tar');
      log = '';
      mkdirSync(join(dataDir, 'scenarios'), { recursive: true });
      writeFileSync(
        join(dataDir, 'scenarios', 'hc.json'),
        JSON.stringify({
          name: 'hc',
          turns: [
            bash(
              'echo HIBCRASH-4417 > /workspace/keep.txt && head -c 2000000 /dev/urandom > /workspace/blob.bin && ' +
                'cd /workspace && sha256sum blob.bin > sum.txt && echo written',
            ),
            { content: [{ type: 'text', text: 'Saved.' }] },
            bash('cat /workspace/keep.txt && cd /workspace && sha256sum -c sum.txt'),
            { content: [{ type: 'text', text: 'Read it back.' }] },
          ],
        }),
      );
      const port = await freePort();
      let berthd = await startBerthd(dataDir, port, flags);
      const client = new Anthropic({ baseURL: `http://127.0.0.1:${port}`, apiKey: ADMIN_KEY, maxRetries: 0 });
      const agent = await client.beta.agents.create({
        name: 'hc',
        model: 'claude-sonnet-4-5',
        tools: [{ type: 'agent_toolset_20260401' }],
      });
      const env = await client.beta.environments.create({
        name: 'hc',
        config: { type: 'cloud' },
        berth: { lifecycle: { pattern: 'hybrid', hibernate_after_s: 3600 } },
      } as never);
      const retrieve = async (id: string) => (await client.beta.sessions.retrieve(id)) as unknown as Wire;
      const ids = [0, 1].map(() => '');
      for (const i of [0, 1]) {
        ids[i] = (await client.beta.sessions.create({ agent: agent.id, environment_id: env.id })).id;
        const turn = await collectTurn(client, ids[i], () => say(client, ids[i]!, `[scenario:hc] FIRST-TURN-${i}`));
        expect(JSON.stringify(turn)).toContain('written');
      }
      const [stateOnly, raced] = ids as [string, string];
      const sandboxes = await Promise.all(ids.map(async (id) => (await retrieve(id)).berth.sandbox.id!));
      const uids = sandboxes.map(
        (sbx) =>
          (JSON.parse(readFileSync(join(dataDir, 'sandboxes', sbx, 'sandbox.json'), 'utf8')) as { hostUid: number })
            .hostUid,
      );

      // The race: berthd dies as soon as the hibernating session's agent process has ended (the CLI is the sandbox
      // uid's process running the claude binary), wherever the hibernation is by then.
      const cliOf = (uid: number) => processesOfUid(uid).filter((p) => p.cmdline.includes('claude'));
      expect(cliOf(uids[1]!).length).toBeGreaterThan(0);
      void fetch(`http://127.0.0.1:${port}/v1/berth/sessions/${raced}/hibernate`, {
        method: 'POST',
        headers: { 'x-api-key': ADMIN_KEY },
      }).catch(() => undefined);
      expect(await waitFor(() => cliOf(uids[1]!).length === 0, 30_000, 2)).toBe(true);
      await kill(berthd);
      // The other session was idle: as if berthd had died right after storing the first step of its hibernation.
      const db = new Database(join(dataDir, 'berth.db'));
      db.prepare("UPDATE sessions SET sandbox_state = 'hibernating' WHERE id = ?").run(stateOnly);
      db.close();

      // Told to remove its sandboxes when it stops, so the test leaves nothing behind.
      berthd = await startBerthd(dataDir, port, [...flags, '--stop-sandboxes-on-exit', 'true']);
      for (const [i, id] of ids.entries()) {
        const s = await retrieve(id);
        expect(s.berth.state, id).toBe('hibernated');
        expect(s.status).toBe('idle');
        // Nothing of the old sandbox is left: no process, cgroup, mount or directory.
        expect(processesOfUid(uids[i]!)).toEqual([]);
        expect(cgroupDirsFor(sandboxes[i]!)).toEqual([]);
        expect(mountsUnder(join(dataDir, 'sandboxes', sandboxes[i]!))).toEqual([]);
        expect(existsSync(join(dataDir, 'sandboxes', sandboxes[i]!))).toBe(false);
        const snapshot = join(dataDir, 'blobs', 'snapshots', id);
        // A disk is handed over as its image, unless another mount namespace pins its filesystem: a staged sandbox
        // (a parallel test file's) started while it was mounted. Then the tars are the snapshot, and berthd said why.
        const pinned = log
          .split('\n')
          .some((l) => l.includes(id) && l.includes('the disk cannot be handed over') && l.includes('another mount'));
        const [image, tars] = [existsSync(join(snapshot, 'disk.img')), existsSync(join(snapshot, 'home.tar'))];
        if (!disk) expect([image, tars]).toEqual([false, true]);
        else if (!image)
          expect([pinned, tars], 'no disk image: the log must say the disk was pinned').toEqual([true, true]);
      }
      // Each resumes with its files and its history.
      for (const [i, id] of ids.entries()) {
        const turn = await collectTurn(client, id, () => say(client, id, `AFTER-CRASH-${i}`));
        const results = JSON.stringify(turn.filter((e) => e.type === 'agent.tool_result'));
        expect(turn.filter((e) => e.type === 'session.error')).toEqual([]);
        expect(results).toContain('HIBCRASH-4417');
        expect(results).toContain('blob.bin: OK');
        expect((await retrieve(id)).berth.state).toBe('ready');
      }
      berthd.kill('SIGTERM');
      await new Promise((r) => berthd.once('exit', r));
      for (let uid = uidStart; uid < uidStart + 16; uid++) expect(processesOfUid(uid)).toEqual([]);
      expect(mountsUnder(dataDir)).toEqual([]);
    },
    300_000,
  );
});
