import { benchSandboxStart } from './b1-sandbox.js';
import { benchGvisorStart } from './b4-gvisor.js';
import { benchEgress } from './b5-egress.js';
import { benchWebSocket } from './b6-ws.js';
import { benchHibernate, WORKLOAD } from './b7-hibernate.js';
import { benchSnapshot } from './b7s-snapshot.js';
import { benchHibernatedMemory } from './b8-hibernated-memory.js';
import { writeResults } from './stats.js';
import { benchTurns } from './turns.js';

/**
 * Runs the benchmarks side by side and reports ratios (docs/benchmarks.md).
 * Usage: npm run bench [-- b1|turns|gvisor|egress|ws|hibernate] [-- --n N (B5 takes 10 × N latency samples)] [-- --disk-mib M (B1d's quota, default 5120; 0 skips B1d)]
 */
const args = process.argv.slice(2);
const nIdx = args.indexOf('--n');
const n = nIdx >= 0 ? Number(args[nIdx + 1]) : 20;
const only = args.find(
  (a) => a === 'b1' || a === 'turns' || a === 'gvisor' || a === 'egress' || a === 'ws' || a === 'hibernate',
);
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
// B4 needs runsc; it runs only when asked for, so the default bench stays runnable without gVisor.
if (only === 'gvisor') records.push(...(await benchGvisorStart(n)));
writeResults('bench', records);
