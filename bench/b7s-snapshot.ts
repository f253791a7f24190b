import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { x as extract } from 'tar';
import { SnapshotStore } from '@berth/server';
import { benchUidRange, type Workload } from './b7-hibernate.js';
import { interleave, report, summary } from './stats.js';

/**
 * B7s: the snapshot steps of B7 alone, on the host (no sandbox, no CLI), so they can be measured apart from the
 * machine's scheduling noise: `SnapshotStore.save` of a 100 MB tree, then its restore with GNU tar run as the
 * sandbox uid (what `SnapshotStore.restore` does) side by side with node-tar (what it did before, and still does
 * where GNU tar is missing).
 */
export async function benchSnapshot(n: number, w: Workload): Promise<object[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bs-'));
  const uid = benchUidRange(0).uidRangeStart;
  try {
    const ws = join(dir, 'ws');
    const home = join(dir, 'home');
    mkdirSync(join(ws, 'data'), { recursive: true });
    mkdirSync(join(ws, 'src'));
    mkdirSync(join(home, '.claude'), { recursive: true });
    writeFileSync(join(ws, 'data', 'big.bin'), randomBytes(w.bigBytes));
    for (let i = 0; i < w.smallFiles; i++) writeFileSync(join(ws, 'src', `f${i}`), randomBytes(1000));
    writeFileSync(join(home, '.claude', 'transcript.jsonl'), randomBytes(20_000).toString('base64'));
    for (const d of [ws, join(ws, 'data'), join(ws, 'src'), home, join(home, '.claude')]) chownSync(d, uid, uid);
    const store = new SnapshotStore(join(dir, 'blobs'));
    const sessionId = 'sesn_bench';
    const saves: number[] = [];
    let k = 0;
    const fresh = () => {
      const into = { workspaceDir: join(dir, `r${k}`, 'ws'), homeDir: join(dir, `r${k}`, 'home'), hostUid: uid };
      k++;
      for (const d of [into.workspaceDir, into.homeDir]) {
        mkdirSync(d, { recursive: true });
        chownSync(d, uid, uid);
      }
      return into;
    };
    const cpu: Record<'save' | 'gnu' | 'nodeTar', number[]> = { save: [], gnu: [], nodeTar: [] };
    const timed = async (fn: () => Promise<unknown>, series: number[]) => {
      const c0 = cpuMs();
      const t0 = performance.now();
      await fn();
      const ms = performance.now() - t0;
      series.push(cpuMs() - c0);
      return ms;
    };
    const gnu = async () => {
      saves.push(await timed(() => store.save(sessionId, { workspaceDir: ws, homeDir: home, hostUid: uid }), cpu.save));
      const into = fresh();
      const ms = await timed(() => store.restore(sessionId, into), cpu.gnu);
      rmSync(join(into.workspaceDir, '..'), { recursive: true, force: true });
      return ms;
    };
    const nodeTar = async () => {
      const into = fresh();
      const blobs = join(dir, 'blobs', sessionId);
      const ms = await timed(
        () =>
          Promise.all(
            (['workspace', 'home'] as const).map((part) =>
              extract({
                file: join(blobs, `${part}.tar`),
                cwd: part === 'workspace' ? into.workspaceDir : into.homeDir,
                strip: 1,
                preserveOwner: false,
                uid,
                gid: uid,
                processUmask: 0,
              }),
            ),
          ),
        cpu.nodeTar,
      );
      rmSync(join(into.workspaceDir, '..'), { recursive: true, force: true });
      return ms;
    };
    const [a, b] = await interleave(n, 1, gnu, nodeTar);
    const s = summary({ name: 'save', samples: saves });
    const cpuMedian = Object.fromEntries(
      Object.entries(cpu).map(([k, v]) => [k, summary({ name: k, samples: v }).median_ms]),
    );
    console.log(`\nB7s: SnapshotStore.save of the workspace: median ${s.median_ms} ms  p95 ${s.p95_ms} ms  (n=${s.n})`);
    console.log(`  CPU time (berthd + its children), medians in ms: ${JSON.stringify(cpuMedian)}`);
    return [
      { id: 'B7s-save', title: 'SnapshotStore.save, 100 MB workspace, on the host', ...s, cpu_median_ms: cpuMedian },
      report({
        id: 'B7s-restore',
        title: 'snapshot restore, 100 MB workspace, on the host',
        berth: { name: 'GNU tar as the sandbox uid (SnapshotStore)', samples: a },
        baseline: { name: 'node-tar, chown to the uid (before)', samples: b },
        target: 1,
      }),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU time of this process and its waited-for children (GNU tar), in ms: noise-robust on a busy host. */
function cpuMs(): number {
  const self = process.cpuUsage();
  // /proc/self/stat fields 16 and 17: cutime and cstime, in clock ticks (100 per second on Linux).
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const children = (Number(fields[13]) + Number(fields[14])) * 10;
  return (self.user + self.system) / 1000 + children;
}
