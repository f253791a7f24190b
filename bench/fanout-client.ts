import { request, Agent } from 'node:http';

/**
 * The fan-out benchmark's subscribers, in a process of their own (so their parsing does not run on berthd's event
 * loop): S real HTTP SSE connections to one session's stream. Each frame is read for its `bench_seq` only (a
 * regular expression, not JSON.parse), and its receipt time is taken from the monotonic clock, which all processes
 * on the host share. Receipts go to typed arrays: kept as objects (a tuple and a BigInt each), every one of the
 * 100,000s survives to the old generation and the client's own GC pauses end up in the latencies it measures. Talks to the parent over IPC: `ready` once every stream is open, then on `stop` with the
 * publish times, it answers with the latency summary.
 */
type Msg = { type: 'stop'; publishedNs: string[] };

const [url, key, sessionId, countArg] = process.argv.slice(2);
const subscribers = Number(countArg);
const RE = /"bench_seq":(\d+)/;
/** One subscriber's receipts: event seq and receipt time (ns on the monotonic clock), in arrival order. */
class Receipts {
  n = 0;
  seqs = new Int32Array(4096);
  ns = new Float64Array(4096);
  push(seq: number, ns: number): void {
    if (this.n === this.seqs.length) {
      const seqs = new Int32Array(this.n * 2);
      const times = new Float64Array(this.n * 2);
      seqs.set(this.seqs);
      times.set(this.ns);
      [this.seqs, this.ns] = [seqs, times];
    }
    this.seqs[this.n] = seq;
    this.ns[this.n++] = ns;
  }
}
const receipts: Receipts[] = [];
/** Frames read, warm-up included (for the CPU per delivery). */
let frames = 0;
const buffers: string[] = [];
const agent = new Agent({ keepAlive: true, maxSockets: subscribers + 1 });

function open(i: number): Promise<void> {
  receipts[i] = new Receipts();
  buffers[i] = '';
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/sessions/${sessionId}/events/stream`,
      { headers: { 'x-api-key': key!, accept: 'text/event-stream' }, agent },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream ${i}: HTTP ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = Number(process.hrtime.bigint());
          let buf = buffers[i]! + chunk;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            frames++;
            const m = RE.exec(buf.slice(0, end));
            if (m) receipts[i]!.push(Number(m[1]), now);
            buf = buf.slice(end + 2);
          }
          buffers[i] = buf;
        });
        resolve();
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function q(xs: Float64Array, p: number): number {
  return xs.length ? xs[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]! : NaN;
}

process.on('message', (msg: Msg) => {
  if (msg.type !== 'stop') return;
  const pub = msg.publishedNs.map(Number);
  let deliveries = 0;
  let missing = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let lastNs = 0;
  const lat = new Float64Array(receipts.reduce((a, r) => a + r.n, 0));
  // Per event: its earliest and latest receipt over all subscribers (a stall of the whole fan-out vs one stream).
  const first = new Float64Array(pub.length).fill(Infinity);
  const last = new Float64Array(pub.length).fill(-Infinity);
  for (const r of receipts) {
    const seen = new Set<number>();
    let prev = -1;
    for (let k = 0; k < r.n; k++) {
      const seq = r.seqs[k]!;
      const t = r.ns[k]!;
      if (seen.has(seq)) duplicated++;
      seen.add(seq);
      if (seq < prev) outOfOrder++;
      prev = seq;
      const p = pub[seq];
      if (p !== undefined) {
        const ms = (t - p) / 1e6;
        lat[deliveries++] = ms;
        if (ms < first[seq]!) first[seq] = ms;
        if (ms > last[seq]!) last[seq] = ms;
      }
      if (t > lastNs) lastNs = t;
    }
    missing += pub.length - seen.size;
  }
  const sorted = lat.subarray(0, deliveries).sort();
  const firsts = first.filter(Number.isFinite).sort();
  const lasts = last.filter(Number.isFinite).sort();
  const firstNs = pub[0] ?? 0;
  const spanS = (lastNs - firstNs) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  process.send!({
    /** This process's CPU per frame read since the streams opened (summing up included), in µs. */
    cpuUsPerDelivery: frames ? (cpu.user + cpu.system) / frames : NaN,
    deliveries,
    missing,
    duplicated,
    outOfOrder,
    spanS,
    p50: q(sorted, 0.5),
    p99: q(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    firstP50: q(firsts, 0.5),
    firstP99: q(firsts, 0.99),
    lastP50: q(lasts, 0.5),
    lastP99: q(lasts, 0.99),
  });
  agent.destroy();
  setTimeout(() => process.exit(0), 50);
});

await Promise.all(Array.from({ length: subscribers }, (_, i) => open(i)));
const cpu0 = process.cpuUsage();
process.send!({ type: 'ready' });
