import { createWriteStream } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { EgressAudit, EgressPolicy, EgressProxy, createLogger, openSqlite } from '@berth/server';

/**
 * B5's processes, one role each, so every hop runs in its own event loop as in production: `proxy` is berthd's
 * EgressProxy (real SQLite audit), `forwarder` is the runner's egress forwarder, `target` is the host the sandbox
 * talks to. Each prints one JSON line when ready and exits when its stdin closes (the bench process ended).
 * Usage: node b5-roles.js proxy <dir> <allowed host:port> | forwarder <sock>... | target <address>
 */

/** The request/response protocol of the latency target: a line in, one 32-byte line out. */
const PONG = Buffer.from(`${'pong'.padEnd(31, '.')}\n`);

/** The bulk target reads `<bytes>\n` and sends that many bytes, then ends. */
const CHUNK = Buffer.alloc(1 << 20, 0x61);

function ready(info: object): void {
  process.stdout.write(`${JSON.stringify(info)}\n`);
}

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

async function target(address: string): Promise<void> {
  // A client of a real service (curl, Node's http) sets TCP_NODELAY; so do the target and the bench client.
  const echo = net.createServer({ noDelay: true }, (s) => {
    let pending = '';
    s.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line !== 'split') s.write(PONG);
        else {
          // Two segments, as a server flushing headers before the body.
          s.write(PONG.subarray(0, 16));
          setImmediate(() => s.write(PONG.subarray(16)));
        }
      }
    });
    s.on('error', () => s.destroy());
  });
  const bulk = net.createServer({ noDelay: true }, (s) => {
    s.on('error', () => s.destroy());
    s.once('data', (d: Buffer) => {
      let left = Number(d.toString('latin1').trim());
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
  });
  ready({ echo: await listen(echo, address), bulk: await listen(bulk, address) });
}

/** A Store that drops the audit, to separate the audit's cost from the proxy's. */
const noStore = {
  recordEgress: async () => undefined,
  updateEgress: async () => undefined,
} as unknown as ConstructorParameters<typeof EgressAudit>[0];

async function proxy(dir: string, allowed: string[]): Promise<void> {
  // berthd's default log level is info, at which every allowed decision is logged: keep that cost, drop the text.
  const logger = createLogger('info', createWriteStream('/dev/null'));
  const store = openSqlite(join(dir, 'b5.db'));
  await store.migrate();
  const clock = () => new Date().toISOString();
  const audit = new EgressAudit(store, logger, clock);
  const policy = EgressPolicy.compile({
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: allowed } },
    mcpServers: [],
  });
  const withAudit = new EgressProxy({ audit, logger });
  const noAudit = new EgressProxy({ audit: new EgressAudit(noStore, logger, clock), logger });
  await withAudit.listen(join(dir, 'egress.sock'), { sessionId: 'sesn_b5', policy });
  await noAudit.listen(join(dir, 'egress-noaudit.sock'), { sessionId: 'sesn_b5', policy });
  // `count` flushes the audit and answers the number of allowed CONNECT rows written: proof the audit ran.
  process.stdin.on('data', (d: Buffer) => {
    if (!d.toString().includes('count')) return;
    void audit.flush().then(async () => {
      let rows = 0;
      let bytesDown = 0;
      let page: string | undefined;
      do {
        const p = await store.listEgress('sesn_b5', { limit: 500, decision: 'allowed', page });
        for (const r of p.data.filter((x) => x.method === 'CONNECT')) {
          rows++;
          bytesDown += Number(r.bytes_down);
        }
        page = p.next ?? undefined;
      } while (page);
      ready({ rows, bytesDown });
    });
  });
  ready({ sockets: [join(dir, 'egress.sock'), join(dir, 'egress-noaudit.sock')] });
}

/** The runner's forwarder itself (packages/runner/dist/forwarder.js), one per socket. */
async function forwarder(sockets: string[]): Promise<void> {
  const entry = import.meta.resolve('@berth/runner');
  type Start = typeof import('../packages/runner/dist/forwarder.js').startForwarder;
  const mod = (await import(new URL('./forwarder.js', entry).href)) as { startForwarder: Start };
  const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
  const ports: number[] = [];
  for (const socket of sockets) ports.push((await mod.startForwarder({ name: 'egress', socket, log: quiet })).port);
  ready({ ports });
}

const [role, ...rest] = process.argv.slice(2);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
if (role === 'target') await target(rest[0]!);
else if (role === 'proxy') await proxy(rest[0]!, rest.slice(1));
else if (role === 'forwarder') await forwarder(rest);
else {
  console.error(`unknown role '${role ?? ''}'`);
  process.exit(2);
}
