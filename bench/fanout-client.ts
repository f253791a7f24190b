import { request, Agent } from 'node:http';

/**
 * The fan-out benchmark's subscribers, in a process of their own (so their parsing does not run on berthd's event
 * loop): S real HTTP SSE connections to one session's stream. Each frame is read for its `bench_seq` only (a
 * regular expression, not JSON.parse), and its receipt time is taken from the monotonic clock, which all processes
 * on the host share. Talks to the parent over IPC: `ready` once every stream is open, then on `stop` with the
 * publish times, it answers with the latency summary.
 */
type Msg = { type: 'stop'; publishedNs: string[] };

const [url, key, sessionId, countArg] = process.argv.slice(2);
const subscribers = Number(countArg);
const RE = /"bench_seq":(\d+)/;
const receipts: Array<Array<[number, bigint]>> = [];
const buffers: string[] = [];
const agent = new Agent({ keepAlive: true, maxSockets: subscribers + 1 });

function open(i: number): Promise<void> {
  receipts[i] = [];
  buffers[i] = '';
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/sessions/${sessionId}/events/stream`,
      { headers: { 'x-api-key': key!, accept: 'text/event-stream' }, agent },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream ${i}: HTTP ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = process.hrtime.bigint();
          let buf = buffers[i]! + chunk;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const m = RE.exec(buf.slice(0, end));
            if (m) receipts[i]!.push([Number(m[1]), now]);
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
  const pub = msg.publishedNs.map((x) => BigInt(x));
  let deliveries = 0;
  let missing = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let lastNs = 0n;
  const lat = new Float64Array(receipts.reduce((a, r) => a + r.length, 0));
  for (const r of receipts) {
    const seen = new Set<number>();
    let prev = -1;
    for (const [seq, t] of r) {
      if (seen.has(seq)) duplicated++;
      seen.add(seq);
      if (seq < prev) outOfOrder++;
      prev = seq;
      const p = pub[seq];
      if (p !== undefined) lat[deliveries++] = Number(t - p) / 1e6;
      if (t > lastNs) lastNs = t;
    }
    missing += pub.length - seen.size;
  }
  const sorted = lat.subarray(0, deliveries).sort();
  const firstNs = pub[0] ?? 0n;
  const spanS = Number(lastNs - firstNs) / 1e9;
  process.send!({
    deliveries,
    missing,
    duplicated,
    outOfOrder,
    spanS,
    p50: q(sorted, 0.5),
    p99: q(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  });
  agent.destroy();
  setTimeout(() => process.exit(0), 50);
});

await Promise.all(Array.from({ length: subscribers }, (_, i) => open(i)));
process.send!({ type: 'ready' });
