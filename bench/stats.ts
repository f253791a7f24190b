import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Small statistics and reporting helpers shared by the benchmarks. */

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export interface Series {
  name: string;
  samples: number[];
}

export interface Comparison {
  id: string;
  title: string;
  berth: Series;
  baseline: Series;
  target: number;
  note?: string;
}

export function summary(s: Series) {
  return {
    n: s.samples.length,
    median_ms: round(quantile(s.samples, 0.5)),
    p95_ms: round(quantile(s.samples, 0.95)),
    min_ms: round(Math.min(...s.samples)),
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Prints one comparison as a ratio of medians and returns the record written to bench/results. */
export function report(c: Comparison): object {
  const b = summary(c.berth);
  const base = summary(c.baseline);
  const ratio = Math.round((b.median_ms / base.median_ms) * 100) / 100;
  const verdict = ratio <= c.target ? 'meets' : 'MISSES';
  console.log(`\n${c.id}: ${c.title}`);
  console.log(`  ${c.berth.name.padEnd(44)} median ${b.median_ms} ms  p95 ${b.p95_ms} ms  (n=${b.n})`);
  console.log(`  ${c.baseline.name.padEnd(44)} median ${base.median_ms} ms  p95 ${base.p95_ms} ms  (n=${base.n})`);
  console.log(`  ratio ${ratio}x  target <= ${c.target}x  -> ${verdict}${c.note ? `\n  note: ${c.note}` : ''}`);
  return {
    id: c.id,
    title: c.title,
    berth: { name: c.berth.name, ...b },
    baseline: { name: c.baseline.name, ...base },
    ratio,
    target: c.target,
    meets: ratio <= c.target,
    note: c.note,
  };
}

export function writeResults(name: string, records: object[]): void {
  const dir = join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), records }, null, 2));
  console.log(`\nresults written to ${file}`);
}

/** Runs `a` and `b` alternately `n` times (after `warmup` untimed rounds each), so drift hits both equally. */
export async function interleave(
  n: number,
  warmup: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<[number[], number[]]> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      xs.push(await a());
      ys.push(await b());
    } else {
      ys.push(await b());
      xs.push(await a());
    }
  }
  return [xs, ys];
}
