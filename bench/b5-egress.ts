import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { interleave, quantile } from './stats.js';

/**
 * B5: the egress proxy's cost for an allowed CONNECT, against a direct TCP connection to the same loopback target.
 * Path: bench client → TCP 127.0.0.1 (the runner's egress forwarder, its own process) → unix socket → berthd's
 * EgressProxy (its own process, per-session policy allowing exactly the target, SQLite audit) → TCP 127.0.0.2 →
 * target (its own process). The target speaks plain TCP: a TLS session inside the tunnel is end-to-end and only
 * bytes to the proxy, so plain TCP measures the proxy's own cost without the handshake's noise.
 */
const TARGET = '127.0.0.2';
const PONG_BYTES = 32;
const BULK_BYTES = 256 * 1024 * 1024;

type Info = Record<string, unknown>;

/** One role process of b5-roles.js and its JSON lines. */
class Role {
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.waiter?.();
    });
  }
  static start(args: string[]): Role {
    const script = join(import.meta.dirname, 'b5-roles.js');
    return new Role(spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }
  async next(): Promise<Info> {
    while (this.lines.length === 0) {
      if (this.proc.exitCode !== null) throw new Error(`b5 role exited ${this.proc.exitCode}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 200);
      });
    }
    return JSON.parse(this.lines.shift()!) as Info;
  }
  stop(): void {
    this.proc.stdin!.end();
  }
}

/** A client connection with a receive buffer. */
class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    const fail = (err: Error) => {
      this.failure = err;
      this.waiter?.();
    };
    sock.on('error', fail);
    sock.on('end', () => fail(new Error('connection ended early')));
  }
  static open(port: number, host: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, noDelay: true }, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  /** Waits until `end(buf)` finds a complete message (its length), then consumes and returns it. */
  async take(end: (b: Buffer) => number): Promise<Buffer> {
    for (;;) {
      const n = end(this.buf);
      if (n >= 0) {
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return out;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}

const pong = (b: Buffer) => (b.length >= PONG_BYTES ? PONG_BYTES : -1);
const headers = (b: Buffer) => {
  const i = b.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
};

/** Opens a CONNECT tunnel through the forwarder at `port` and checks the proxy's 200. */
async function tunnel(port: number, target: number): Promise<Conn> {
  const c = await Conn.open(port, '127.0.0.1');
  c.sock.write(`CONNECT ${TARGET}:${target} HTTP/1.1\r\nHost: ${TARGET}:${target}\r\n\r\n`);
  const head = (await c.take(headers)).toString('latin1');
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`proxy refused: ${head.split('\r\n')[0]}`);
  return c;
}

/**
 * One request/response. `split-request` sends the request as two segments (a client flushing headers, then the
 * rest); `split-response` asks the target to answer in two segments. Both are what TLS and HTTP/2 peers do.
 */
async function roundTrip(c: Conn, mode: 'one' | 'split-request' | 'split-response' = 'one'): Promise<number> {
  const t0 = performance.now();
  if (mode === 'split-request') {
    c.sock.write('pi');
    await new Promise((r) => setImmediate(r));
    c.sock.write('ng\n');
  } else c.sock.write(mode === 'one' ? 'ping\n' : 'split\n');
  const got = await c.take(pong);
  const ms = performance.now() - t0;
  if (got.subarray(0, 4).toString() !== 'pong') throw new Error('unexpected response from the target');
  return ms;
}

/** Receives `BULK_BYTES` from the bulk target over `c`; MiB/s from the request to the last byte. */
function bulk(c: Conn, label: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    c.sock.removeAllListeners('data');
    c.sock.removeAllListeners('end');
    c.sock.on('data', (d: Buffer) => (got += d.length));
    c.sock.on('error', reject);
    const t0 = performance.now();
    c.sock.on('end', () => {
      const s = (performance.now() - t0) / 1000;
      c.sock.destroy();
      if (got !== BULK_BYTES) reject(new Error(`bulk transfer ${label} got ${got} of ${BULK_BYTES} bytes`));
      else resolve(BULK_BYTES / 2 ** 20 / s);
    });
    c.sock.write(`${BULK_BYTES}\n`);
  });
}

/** Prints and returns one comparison; `unit` µs (lower is better) or MiB/s (higher is better). */
function compare(id: string, title: string, a: [string, number[]], b: [string, number[]], unit: 'µs' | 'MiB/s') {
  const s = (xs: number[]) => ({
    n: xs.length,
    median: Math.round(quantile(xs, 0.5) * 10) / 10,
    p95: Math.round(quantile(xs, unit === 'µs' ? 0.95 : 0.05) * 10) / 10,
  });
  const [x, y] = [s(a[1]), s(b[1])];
  const ratio = Math.round((x.median / y.median) * 100) / 100;
  const added = Math.round((x.median - y.median) * 10) / 10;
  const tail = unit === 'µs' ? 'p95' : 'p5';
  console.log(`\n${id}: ${title}`);
  console.log(`  ${a[0].padEnd(52)} median ${x.median} ${unit}  ${tail} ${x.p95} ${unit}  (n=${x.n})`);
  console.log(`  ${b[0].padEnd(52)} median ${y.median} ${unit}  ${tail} ${y.p95} ${unit}  (n=${y.n})`);
  console.log(`  difference ${added > 0 ? '+' : ''}${added} ${unit}, ratio ${ratio}x (informational, no target)`);
  return { id, title, unit, berth: { name: a[0], ...x }, baseline: { name: b[0], ...y }, added, ratio };
}

const us = (f: () => Promise<number>) => async () => (await f()) * 1000;

/** B5a-f; `n` latency samples per series, `reps` bulk transfers per side. */
export async function benchEgress(n: number, reps: number): Promise<object[]> {
  const dir = mkdtempSync(join(tmpdir(), 'b5-'));
  chmodSync(dir, 0o711);
  const target = Role.start(['target', TARGET]);
  const roles = [target];
  try {
    const { echo, bulk: bulkPort } = (await target.next()) as { echo: number; bulk: number };
    const proxy = Role.start(['proxy', dir, `${TARGET}:${echo}`, `${TARGET}:${bulkPort}`]);
    roles.push(proxy);
    const { sockets } = (await proxy.next()) as { sockets: string[] };
    const fwd = Role.start(['forwarder', ...sockets]);
    roles.push(fwd);
    const [port, noAuditPort] = ((await fwd.next()) as { ports: [number, number] }).ports;
    const closeAfter = (f: () => Promise<Conn>) => async () => {
      const t0 = performance.now();
      const c = await f();
      await roundTrip(c);
      const ms = performance.now() - t0;
      c.sock.destroy();
      return ms;
    };
    const viaProxy = closeAfter(() => tunnel(port, echo));
    const direct = closeAfter(() => Conn.open(echo, TARGET));
    const out: object[] = [];
    const [a, b] = await interleave(n, 10, us(viaProxy), us(direct));
    out.push(
      compare(
        'B5a',
        'new connection → first response (connect, CONNECT/200, request → 32-byte response)',
        ['forwarder → EgressProxy (SQLite audit) → target', a],
        ['direct TCP → target', b],
        'µs',
      ),
    );
    const [t, d] = [await tunnel(port, echo), await Conn.open(echo, TARGET)];
    const [e, f] = await interleave(
      n,
      10,
      us(() => roundTrip(t)),
      us(() => roundTrip(d)),
    );
    out.push(compare('B5b', 'round trip on an open connection', ['through the tunnel', e], ['direct', f], 'µs'));
    for (const [id, mode] of [
      ['B5c', 'split-request'],
      ['B5d', 'split-response'],
    ] as const) {
      const [g, h] = await interleave(
        n,
        10,
        us(() => roundTrip(t, mode)),
        us(() => roundTrip(d, mode)),
      );
      const what = mode === 'split-request' ? 'request' : 'response';
      out.push(compare(id, `round trip, ${what} in two segments`, ['through the tunnel', g], ['direct', h], 'µs'));
    }
    t.sock.destroy();
    d.sock.destroy();
    const [i, j] = await interleave(n, 10, us(viaProxy), us(closeAfter(() => tunnel(noAuditPort, echo))));
    out.push(
      compare(
        'B5e',
        'new connection through the proxy: SQLite audit vs a no-op store',
        ['proxy with the SQLite audit', i],
        ['same proxy, audit to a no-op store', j],
        'µs',
      ),
    );
    const [k, l] = await interleave(
      reps,
      1,
      async () => bulk(await tunnel(port, bulkPort), 'through the tunnel'),
      async () => bulk(await Conn.open(bulkPort, TARGET), 'direct'),
    );
    out.push(
      compare(
        'B5f',
        `throughput, ${BULK_BYTES / 2 ** 20} MiB download`,
        ['through the tunnel', k],
        ['direct', l],
        'MiB/s',
      ),
    );
    proxy.proc.stdin!.write('count\n');
    const audited = (await proxy.next()) as { rows: number; bytesDown: number };
    // Every audited tunnel above, each bulk one with its byte count (warm-ups included).
    const expected = 2 * (n + 10) + 1 + reps + 1;
    console.log(
      `\n  audit: ${audited.rows} allowed CONNECT rows (expected ${expected}), ${audited.bytesDown} bytes down`,
    );
    if (audited.rows !== expected || audited.bytesDown < (reps + 1) * BULK_BYTES)
      throw new Error('the egress audit did not record every tunnel: the measurement is not of the real path');
    return out;
  } finally {
    for (const r of roles) r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
