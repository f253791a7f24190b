import { runLoad, type LoadResult } from './load-core.js';
import { startBenchBerth } from './load-berth.js';
import { printLoad } from './load.js';
import { quantile } from './stats.js';

/**
 * Density (issue 5): concurrency stepped up, each step on a fresh berthd, until p95 turn latency is twice the
 * low-concurrency baseline's or sessions fail. `concurrencies[0]` is the baseline; it runs in rounds until it has
 * at least 30 turn samples, so its p95 is not one unlucky turn. With `thinkMs`, every session pauses that long
 * between its turns (paced sessions, like a person or a scheduler behind each); 0 is closed-loop.
 */
export async function benchDensity(
  concurrencies: number[],
  turns: number,
  thinkMs: number,
  warmupTurns: number,
): Promise<object[]> {
  const [baseC, ...steps] = concurrencies;
  const out: object[] = [];
  const baseSamples: number[] = [];
  const b = await startBenchBerth();
  try {
    while (baseSamples.length < 30) {
      // Closed-loop: at low concurrency a turn meets an idle machine either way, and rounds go faster.
      const r = await runLoad(b.app, { sessions: baseC!, turns, thinkMs: 0, warmupTurns, verbose: true });
      printLoad(r);
      out.push({ id: 'density-baseline', ...r });
      if (r.turnsCompleted === 0) throw new Error('the baseline completed no turn');
      baseSamples.push(...r.latencySamples);
    }
  } finally {
    await b.close();
  }
  const baseP95 = quantile(baseSamples, 0.95);
  console.log(`\ndensity baseline: ${baseC} sessions, p95 ${Math.round(baseP95)} ms over ${baseSamples.length} turns`);
  let best = baseC!;
  for (const c of steps) {
    const r: LoadResult = await (async () => {
      const berth = await startBenchBerth();
      try {
        return await runLoad(berth.app, { sessions: c, turns, thinkMs, warmupTurns, verbose: true });
      } finally {
        await berth.close();
      }
    })();
    printLoad(r);
    const ratio = Math.round((r.latencyMs.p95 / baseP95) * 100) / 100;
    const failed = r.failedSessions > 0 || r.incompleteTurns > 0;
    console.log(`  p95 ratio vs baseline: ${ratio}x${failed ? ' (sessions or turns failed)' : ''}`);
    out.push({ id: 'density-step', p95RatioToBaseline: ratio, ...r });
    if (failed || ratio > 2) break;
    best = c;
  }
  console.log(
    `\ndensity: ${best} concurrent sessions before p95 doubles (baseline ${baseC}, p95 ${Math.round(baseP95)} ms)`,
  );
  out.push({
    id: 'density',
    baselineSessions: baseC,
    baselineP95Ms: Math.round(baseP95),
    maxSessions: best,
    turns,
    thinkMs,
  });
  return out;
}
