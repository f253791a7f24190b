import { runLoad, type LoadResult } from './load-core.js';
import { startBenchBerth } from './load-berth.js';

/**
 * `npm run bench -- load --sessions N --turns M [--think-ms T] [--warmup W]`: one load run (issue 5), printed and recorded.
 */
export async function benchLoad(
  sessions: number,
  turns: number,
  thinkMs: number,
  warmupTurns: number,
): Promise<object[]> {
  const b = await startBenchBerth();
  try {
    const r = await runLoad(b.app, { sessions, turns, thinkMs, warmupTurns, verbose: true });
    printLoad(r);
    return [{ id: 'load', ...r }];
  } finally {
    await b.close();
  }
}

/** One result as a few human lines. */
export function printLoad(r: LoadResult): void {
  const l = r.latencyMs;
  console.log(
    `\nload: ${r.sessions} sessions × ${r.turnsPerSession} turns (think ${r.thinkMs} ms, ${r.warmupTurns} untimed warm-up turns), set-up ${r.setupMs} ms, load average ${r.loadAvg.join(' → ')}` +
      `\n  ${r.turnsCompleted} turns in ${r.wallMs} ms = ${r.turnsPerSec} turns/s` +
      `\n  turn latency p50 ${l.p50} ms  p95 ${l.p95} ms  p99 ${l.p99} ms  max ${l.max} ms; p50 by turn ${r.p50ByTurnMs.join(', ')} ms` +
      `\n  CPU per turn: ${r.cpuPerTurnS.process} s in the bench process (berthd + model + client), ${r.cpuPerTurnS.sandboxes} s in sandboxes; ${r.modelRequestsPerTurn} model requests per turn` +
      `\n  sandbox CPU by command (s, whole run): ${JSON.stringify(r.sandboxCpuByCommandS)}` +
      `\n  sandbox memory per session: mean ${r.sandboxMemoryMib.mean} MiB, max ${r.sandboxMemoryMib.max} MiB` +
      `\n  process after GC: rss ${r.server.before.rssMib} → ${r.server.after.rssMib} MiB, heap ${r.server.before.heapMib} → ${r.server.after.heapMib} MiB` +
      ` (${r.server.rssPerSessionMib} MiB rss, ${r.server.heapPerSessionMib} MiB heap per session)` +
      `\n  events: ${r.events.live} live, ${r.events.listed} listed, lost ${r.events.lost}, duplicated ${r.events.duplicated},` +
      ` out of order ${r.events.outOfOrder}, extra ${r.events.extra}; bad stop reasons ${r.badStopReasons},` +
      ` incomplete turns ${r.incompleteTurns}, failed sessions ${r.failedSessions}` +
      (r.errors.length ? `\n  errors (${r.errors.length}): ${r.errors.slice(0, 5).join(' | ')}` : ''),
  );
}
