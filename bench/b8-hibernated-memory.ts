import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Anthropic from '@anthropic-ai/sdk';
import { createLogger, loadConfig, startBerth } from '@berth/server';
import { benchUidRange, waitState } from './b7-hibernate.js';

/**
 * B8: what a hibernated session costs. n hybrid sessions each run one turn (the agent writes 1 MB of random bytes
 * and a note), then hibernate. Measured per session: processes of its sandbox uid and its cgroup directories
 * (both must be gone), the running sandbox's cgroup memory just before, its snapshot's size in the blob store, and
 * berthd's heap and RSS growth (after a full GC) divided by n.
 */

const SCENARIO = {
  name: 'bench-idle',
  turns: [
    {
      content: [
        {
          type: 'tool_use',
          name: 'Bash',
          input: { command: 'head -c 1000000 /dev/urandom > /workspace/data.bin && echo note > /workspace/note.md' },
        },
      ],
    },
    { content: [{ type: 'text', text: 'ok' }] },
  ],
};

/** A full GC (the flag set at run time; `gc` is read from a fresh context, where it now exists). */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function memory(): { heap: number; rss: number } {
  fullGc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

function processesOfUid(uid: number): number {
  let count = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      if (m && Number(m[1]) === uid && !/^State:\s+Z/m.test(status)) count++;
    } catch {
      // the process ended meanwhile
    }
  }
  return count;
}

/** Every cgroup directory named `name`, one level under any `berth` parent of any hierarchy. */
function cgroupDirs(name: string): string[] {
  const found: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    for (const parent of [join('/sys/fs/cgroup', h, 'berth'), join('/sys/fs/cgroup', h)]) {
      if (existsSync(join(parent, name))) found.push(join(parent, name));
    }
  }
  return [...new Set(found)];
}

function cgroupMemory(name: string): number {
  for (const dir of cgroupDirs(name)) {
    for (const f of ['memory.usage_in_bytes', 'memory.current']) {
      if (existsSync(join(dir, f))) return Number(readFileSync(join(dir, f), 'utf8').trim());
    }
  }
  return NaN;
}

function diskBytes(dir: string): number {
  // du -sB1: the disk the files take, in bytes. Not their apparent size: a snapshot that is a workspace disk image
  // is a sparse file the size of the quota (5 GiB by default) of which only what was written takes space. For the
  // uncompressed tars the two are about the same.
  return Number(execFileSync('du', ['-sB1', dir], { encoding: 'utf8' }).split('\t')[0]);
}

export async function benchHibernatedMemory(n: number): Promise<object[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bm-'));
  const key = 'bench-admin-key-0123456789';
  const config = loadConfig(
    {},
    {
      dataDir,
      port: 0,
      scriptedModel: true,
      adminKey: key,
      anthropicApiKey: 'bench-upstream',
      logLevel: 'warn',
      stopSandboxesOnExit: true,
      ...benchUidRange(0),
    },
  );
  const app = await startBerth(config, { logger: createLogger('warn', process.stderr) });
  app.scriptedModel!.addScenario(SCENARIO as never);
  const client = new Anthropic({ baseURL: app.url, apiKey: key, maxRetries: 0 });
  const post = (path: string) => fetch(`${app.url}${path}`, { method: 'POST', headers: { 'x-api-key': key } });
  try {
    const agent = await client.beta.agents.create({
      name: 'bench',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await client.beta.environments.create({
      name: 'bench-idle',
      config: { type: 'cloud' },
      berth: { lifecycle: { pattern: 'hybrid', hibernate_after_s: 86_400 } },
    } as never);
    const one = async () => {
      const s = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
      await waitState(client, s.id, 'ready');
      const stream = await client.beta.sessions.events.stream(s.id);
      await client.beta.sessions.events.send(s.id, {
        events: [{ type: 'user.message', content: [{ type: 'text', text: '[scenario:bench-idle] go' }] }],
      });
      for await (const e of stream) if (e.type === 'session.status_idle') break;
      const wire = (await client.beta.sessions.retrieve(s.id)) as unknown as { berth: { sandbox: { id: string } } };
      const info = (await app.driver.inspect(wire.berth.sandbox.id))!;
      const running = { processes: processesOfUid(info.hostUid), cgroupMemory: cgroupMemory(info.cgroup ?? info.id) };
      const h = await post(`/v1/berth/sessions/${s.id}/hibernate`);
      if (h.status !== 200) throw new Error(`hibernate: ${h.status} ${await h.text()}`);
      return {
        id: s.id,
        running,
        hibernated: {
          processes: processesOfUid(info.hostUid),
          cgroupDirs: cgroupDirs(info.cgroup ?? info.id).length,
          sandbox: (await app.driver.inspect(info.id)) === undefined ? 'gone' : 'present',
          disk: diskBytes(join(dataDir, 'blobs', 'snapshots', s.id)),
          // The snapshot's form (ADR 0021): the disk image, or tars when it could not be handed over.
          diskImage: existsSync(join(dataDir, 'blobs', 'snapshots', s.id, 'disk.img')),
        },
      };
    };
    // One session first, hibernated and deleted, so lazily loaded code is in the baseline.
    await client.beta.sessions.delete((await one()).id);
    const before = memory();
    const sessions = [];
    for (let i = 0; i < n; i++) sessions.push(await one());
    const after = memory();
    const per = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const result = {
      id: 'B8',
      title: 'cost of a hibernated session',
      n,
      hibernated_processes_total: sessions.reduce((a, s) => a + s.hibernated.processes, 0),
      hibernated_cgroup_dirs_total: sessions.reduce((a, s) => a + s.hibernated.cgroupDirs, 0),
      sandboxes_left: sessions.filter((s) => s.hibernated.sandbox !== 'gone').length,
      running_processes_per_session: per(sessions.map((s) => s.running.processes)),
      running_cgroup_memory_mib_per_session: per(sessions.map((s) => s.running.cgroupMemory)) / 2 ** 20,
      blob_disk_mib_per_session: per(sessions.map((s) => s.hibernated.disk)) / 2 ** 20,
      snapshots_as_disk_image: sessions.filter((s) => s.hibernated.diskImage).length,
      berthd_heap_kib_per_session: (after.heap - before.heap) / n / 1024,
      berthd_rss_kib_per_session: (after.rss - before.rss) / n / 1024,
    };
    console.log(`\nB8: cost of a hibernated session (n=${n})`);
    for (const [k, v] of Object.entries(result))
      if (typeof v === 'number') console.log(`  ${k.padEnd(40)} ${Math.round(v * 100) / 100}`);
    for (const s of sessions) await client.beta.sessions.delete(s.id);
    return [result];
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
