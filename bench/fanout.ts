import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';
import { newId } from '@berth/protocol';
import { startBenchBerth } from './load-berth.js';
import { quantile } from './stats.js';

/**
 * Stream fan-out (issue 5): events appended to one session at a controlled rate through berthd's real append path
 * (`app.eventLog.append`: one SQLite transaction per event, then publish to every subscriber), delivered to S
 * subscribers on real HTTP SSE connections held by a separate process (bench/fanout-client.ts). Latency is persist
 * → receipt: from the moment the log publishes the stored event (a listener subscribed before the streams, so it
 * runs first) to the moment a subscriber's socket read returns it, on the host's monotonic clock.
 */
interface ClientSummary {
  deliveries: number;
  missing: number;
  duplicated: number;
  outOfOrder: number;
  spanS: number;
  cpuUsPerDelivery: number;
  p50: number;
  p99: number;
  max: number;
  /** Per event, the earliest and the latest receipt over all subscribers. */
  firstP50: number;
  firstP99: number;
  lastP50: number;
  lastP99: number;
}

const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(4);

/** Bench events for the seqs given (`bench_seq` is what the subscribers read). */
function events(seqs: number[]) {
  return seqs.map((s) => ({
    id: newId('event'),
    type: 'agent.message',
    bench_seq: s,
    content: [{ type: 'text', text: TEXT }],
  }));
}

/**
 * Appends `total` events at `rate` per second, up to `batch` per append (open loop: an append does not wait for the
 * previous one), and waits for every append.
 */
async function offer(
  rate: number,
  total: number,
  batch: number,
  append: (seqs: number[]) => Promise<unknown>,
): Promise<void> {
  const appends: Promise<unknown>[] = [];
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due) {
      const seqs: number[] = [];
      for (; sent < due && seqs.length < batch; sent++) seqs.push(sent);
      appends.push(append(seqs));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(appends);
}

/**
 * `batch`: events per append (1: one SQLite transaction per event, the worst case; a runner frame often carries
 * several events, which are appended in one transaction and published in one turn of the event loop).
 */
export async function benchFanout(
  subscribers: number,
  rates: number[],
  seconds: number,
  batch = 1,
  warmupS = 1,
): Promise<object[]> {
  const b = await startBenchBerth();
  const { app } = b;
  const out: object[] = [];
  try {
    const client = new Anthropic({ baseURL: app.url, apiKey: app.adminKey, maxRetries: 0 });
    const agent = await client.beta.agents.create({ name: 'fanout', model: 'claude-sonnet-4-5', tools: [] });
    const env = await client.beta.environments.create({ name: 'fanout', config: { type: 'cloud' } });
    const s = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id });
    // Let the session's sandbox finish starting, so its start-up is not measured.
    await new Promise((r) => setTimeout(r, 3000));
    for (const rate of rates) {
      const r = await oneRate(app, s.id, subscribers, rate, seconds, batch, warmupS);
      out.push(r);
      if (r.deliveredPerSec < 0.9 * rate * subscribers) break;
    }
  } finally {
    await b.close();
  }
  return out;
}

async function oneRate(
  app: Awaited<ReturnType<typeof startBenchBerth>>['app'],
  sessionId: string,
  subscribers: number,
  rate: number,
  seconds: number,
  batch: number,
  warmupS: number,
) {
  // Subscribed before the streams open: listeners run in subscription order, so this stamp precedes every write.
  const published: bigint[] = [];
  const appendMs: number[] = [];
  const unsubscribe = app.eventLog.subscribe(sessionId, (events) => {
    const now = process.hrtime.bigint();
    for (const e of events) {
      const seq = (e as { bench_seq?: number }).bench_seq;
      if (typeof seq === 'number') published[seq] = now;
    }
  });
  const child = fork(join(import.meta.dirname, 'fanout-client.js'), [
    app.url,
    app.adminKey,
    sessionId,
    String(subscribers),
  ]);
  const messages: unknown[] = [];
  let wake: () => void = () => {};
  child.on('message', (m) => {
    messages.push(m);
    wake();
  });
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((r) => (wake = r));
    return messages.shift();
  };
  await next(); // ready: every stream is open
  // Subscribed after the streams: stamps once every subscriber's frame has been written to its socket.
  const writtenMs: number[] = [];
  const unsubscribeLast = app.eventLog.subscribe(sessionId, (events) => {
    for (const e of events) {
      const seq = (e as { bench_seq?: number }).bench_seq;
      const p = typeof seq === 'number' ? published[seq] : undefined;
      // The streams' writes leave the process by the check phase (node's http flushes them on the next tick).
      if (p !== undefined) setImmediate(() => writtenMs.push(Number(process.hrtime.bigint() - p) / 1e6));
    }
  });
  const total = Math.round(rate * seconds);
  // Warm-up: the same load, unmeasured (no bench_seq), so the window sees the steady state, not the first second's
  // JIT compilation and young-generation growth.
  if (warmupS > 0) {
    const unmeasured = (seqs: number[]) => events(seqs).map(({ bench_seq: _, ...e }) => e);
    await offer(rate, Math.round(rate * warmupS), batch, (seqs) => app.eventLog.append(sessionId, unmeasured(seqs)));
  }
  // What else holds berthd's event loop while frames wait: loop delay and GC pauses over the timed window.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const gcMs: number[] = [];
  const gcObserver = new PerformanceObserver((list) => gcMs.push(...list.getEntries().map((e) => e.duration)));
  gcObserver.observe({ entryTypes: ['gc'] });
  loopDelay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await offer(rate, total, batch, (seqs) => {
    const at = performance.now();
    return app.eventLog.append(sessionId, events(seqs)).then(() => appendMs.push(performance.now() - at));
  });
  const genS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  loopDelay.disable();
  gcObserver.disconnect();
  await new Promise((r) => setTimeout(r, 1000)); // let the last frames arrive
  unsubscribe();
  unsubscribeLast();
  child.send({ type: 'stop', publishedNs: published.map(String) });
  const sum = (await next()) as ClientSummary;
  child.kill();
  const r1 = (x: number) => Math.round(x * 100) / 100;
  const res = {
    id: 'fanout',
    subscribers,
    batch,
    warmupS,
    offeredEventsPerSec: rate,
    events: total,
    persistedPerSec: Math.round(total / genS),
    deliveredPerSec: Math.round(sum.deliveries / sum.spanS),
    deliveries: sum.deliveries,
    missing: sum.missing,
    duplicated: sum.duplicated,
    outOfOrder: sum.outOfOrder,
    addedLatencyMs: { p50: r1(sum.p50), p99: r1(sum.p99), max: r1(sum.max) },
    appendMs: { p50: r1(quantile(appendMs, 0.5)), p99: r1(quantile(appendMs, 0.99)) },
    /** berthd's CPU (this process: appends, SQLite, publish, SSE writes) per event appended, in µs. */
    cpuUsPerEvent: Math.round((cpu.user + cpu.system) / total),
    /** The subscribers' process: CPU per frame it read (warm-up included), in µs. */
    clientCpuUsPerDelivery: r1(sum.cpuUsPerDelivery),
    /** berthd's share: publish → the last subscriber's frame written to its socket. */
    writeAllMs: { p50: r1(quantile(writtenMs, 0.5)), p99: r1(quantile(writtenMs, 0.99)) },
    /** Per event: the first and the last subscriber's receipt. */
    firstReceiptMs: { p50: r1(sum.firstP50), p99: r1(sum.firstP99) },
    lastReceiptMs: { p50: r1(sum.lastP50), p99: r1(sum.lastP99) },
    /** berthd's event loop: delay of a 1 ms timer (p99, max), and GC pauses (count, total, longest). */
    loopDelayMs: { p99: r1(loopDelay.percentile(99) / 1e6), max: r1(loopDelay.max / 1e6) },
    gc: { count: gcMs.length, totalMs: r1(gcMs.reduce((a, b) => a + b, 0)), maxMs: r1(Math.max(0, ...gcMs)) },
    loadAvg1: r1(loadavg()[0]!),
  };
  console.log(
    `\nfan-out: ${rate} events/s (≤ ${batch} per append) × ${subscribers} subscribers for ${seconds} s: delivered ${res.deliveredPerSec}/s ` +
      `(${res.deliveries} of ${total * subscribers}, missing ${res.missing}, dup ${res.duplicated}, reordered ${res.outOfOrder})` +
      `\n  persist → receipt p50 ${res.addedLatencyMs.p50} ms  p99 ${res.addedLatencyMs.p99} ms  max ${res.addedLatencyMs.max} ms;` +
      ` append (queue + SQLite) p50 ${res.appendMs.p50} ms p99 ${res.appendMs.p99} ms;` +
      ` publish → written to all p50 ${res.writeAllMs.p50} ms p99 ${res.writeAllMs.p99} ms;` +
      ` berthd CPU ${res.cpuUsPerEvent} µs per event, subscribers' ${res.clientCpuUsPerDelivery} µs per delivery` +
      `\n  per event: first receipt p50 ${res.firstReceiptMs.p50} p99 ${res.firstReceiptMs.p99} ms, last p50 ${res.lastReceiptMs.p50} p99 ${res.lastReceiptMs.p99} ms;` +
      ` loop delay p99 ${res.loopDelayMs.p99} max ${res.loopDelayMs.max} ms; GC ${res.gc.count}× ${res.gc.totalMs} ms (max ${res.gc.maxMs}); load ${res.loadAvg1}`,
  );
  return res;
}
