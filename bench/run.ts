import { benchSandboxStart } from './b1-sandbox.js';
import { benchGvisorStart } from './b4-gvisor.js';
import { benchDensity } from './density.js';
import { benchFanout } from './fanout.js';
import { benchIdle } from './idle.js';
import { benchLoad } from './load.js';
import { benchEgress } from './b5-egress.js';
import { benchWebSocket } from './b6-ws.js';
import { benchHibernate, WORKLOAD } from './b7-hibernate.js';
import { benchSnapshot } from './b7s-snapshot.js';
import { benchHibernatedMemory } from './b8-hibernated-memory.js';
import { benchWarmPool } from './b9-warm-pool.js';
import { writeResults } from './stats.js';
import { benchTurns } from './turns.js';

/**
 * Runs the benchmarks side by side and reports ratios (docs/benchmarks.md).
 * Usage: npm run bench [-- b1|turns|gvisor|egress|ws|hibernate|b7|warm] [-- --n N (B5 takes 10 × N latency samples)] [-- --disk-mib M (B1d's quota, default 5120; 0 skips B1d)]
 * Load (issue 5, run only when named): `load --sessions N --turns M [--think-ms T] [--warmup W]`, `density [--steps 10,20,…]
 * [--baseline C] [--turns M] [--think-ms T] [--warmup W (default 1)]`, `fanout [--subscribers S] [--rates 100,200,…] [--seconds D] [--batch B] [--warmup-s W (default 1)]`, `idle [--sessions K]`.
 */
const args = process.argv.slice(2);
const nIdx = args.indexOf('--n');
const n = nIdx >= 0 ? Number(args[nIdx + 1]) : 20;
const only = args.find((a) =>
  ['b1', 'turns', 'gvisor', 'egress', 'ws', 'load', 'density', 'fanout', 'idle', 'hibernate', 'b7', 'warm'].includes(a),
);
/** `--name value` as a number, or `dflt`. */
const num = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 0) {
    console.error(`${name} must be a number >= 0`);
    process.exit(2);
  }
  return v;
};
/** `--name 1,2,3` as numbers, or `dflt`. */
const nums = (name: string, dflt: number[]): number[] => {
  const i = args.indexOf(name);
  const v =
    i >= 0
      ? String(args[i + 1])
          .split(',')
          .map(Number)
      : dflt;
  if (v.some((x) => !Number.isFinite(x) || x <= 0)) {
    console.error(`${name} must be a comma-separated list of numbers > 0`);
    process.exit(2);
  }
  return v;
};
const diskIdx = args.indexOf('--disk-mib');
const diskMib = diskIdx >= 0 ? Number(args[diskIdx + 1]) : 5120;
if (!Number.isInteger(n) || n < 3) {
  console.error('--n must be an integer >= 3');
  process.exit(2);
}
if (!Number.isInteger(diskMib) || diskMib < 0) {
  console.error('--disk-mib must be an integer >= 0 (0 skips B1d)');
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('benchmarks need root (cgroups and sandbox uids), like berthd itself');
  process.exit(2);
}
const records: object[] = [];
if (!only || only === 'b1') records.push(...(await benchSandboxStart(n, diskMib > 0 ? diskMib : undefined)));
if (!only || only === 'turns') records.push(...(await benchTurns(Math.max(3, Math.round(n / 2)))));
// B5 takes ~15 s: 10 × n latency samples per series (sub-millisecond each) and max(3, n / 4) bulk transfers.
if (!only || only === 'egress') records.push(...(await benchEgress(10 * n, Math.max(3, Math.round(n / 4)))));
// B6: ~2 s per sample pair (one-call turns on a warm session).
if (!only || only === 'ws') records.push(...(await benchWebSocket(n)));
// B7 + B8: hybrid sessions; ~3 s per B7 round (100 MB saved and restored), B8 hibernates n sessions side by side.
if (!only || only === 'hibernate') {
  records.push(...(await benchSnapshot(Math.max(3, Math.round(n / 2)), WORKLOAD)));
  records.push(...(await benchHibernate(Math.max(3, Math.round(n / 2)))));
  records.push(...(await benchHibernatedMemory(n)));
}
// B7 alone (the same rounds as in `hibernate`), for runs interleaved with another build.
if (only === 'b7') records.push(...(await benchHibernate(Math.max(3, Math.round(n / 2)))));
// B9: warm pool against cold start, ~2 s per pair plus the pool's refill.
if (!only || only === 'warm') records.push(...(await benchWarmPool(n)));
// B4 needs runsc; it runs only when asked for, so the default bench stays runnable without gVisor.
if (only === 'gvisor') records.push(...(await benchGvisorStart(n)));
// Issue 5's load benchmarks: minutes each, so only when named.
if (only === 'load')
  records.push(
    ...(await benchLoad(num('--sessions', 20), num('--turns', 3), num('--think-ms', 0), num('--warmup', 0))),
  );
if (only === 'density') {
  const steps = nums('--steps', [10, 20, 40, 60, 80, 100, 120]);
  records.push(
    ...(await benchDensity(
      [num('--baseline', 2), ...steps],
      num('--turns', 3),
      num('--think-ms', 0),
      num('--warmup', 1),
    )),
  );
}
if (only === 'fanout') {
  const rates = nums('--rates', [100, 200, 400, 800]);
  records.push(
    ...(await benchFanout(
      num('--subscribers', 100),
      rates,
      num('--seconds', 5),
      num('--batch', 1) || 1,
      num('--warmup-s', 1),
    )),
  );
}
if (only === 'idle') records.push(...(await benchIdle(num('--sessions', 40))));
writeResults(only === 'load' || only === 'density' || only === 'fanout' || only === 'idle' ? only : 'bench', records);
