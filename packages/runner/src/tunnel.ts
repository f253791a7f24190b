import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { BerthdFrame, TunnelHeader } from '@berth/protocol';
import type { Logger } from './log.js';

type OpenTunnelFrame = Extract<BerthdFrame, { type: 'open_tunnel' }>;

/** One TCP socket in LISTEN state, as /proc/net/tcp{,6} shows it. */
export interface Listener {
  family: 4 | 6;
  /** Dotted IPv4, or the 32 hex digits of an IPv6 address as procfs prints them. */
  address: string;
  port: number;
  uid: number;
}

const LISTEN = '0A';

/** Parses /proc/net/tcp or /proc/net/tcp6 and returns the LISTEN sockets. Malformed lines are skipped. */
export function parseListeners(text: string, family: 4 | 6): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[3] !== LISTEN) continue;
    const [addrHex, portHex] = (f[1] ?? '').split(':');
    const port = Number.parseInt(portHex ?? '', 16);
    const uid = Number(f[7]);
    if (!addrHex || !Number.isInteger(port)) continue;
    out.push({ family, address: family === 4 ? ipv4(addrHex) : addrHex.toLowerCase(), port, uid });
  }
  return out;
}

/** procfs prints an IPv4 address as one host-order (little-endian here) 32-bit hex word. */
function ipv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

/** Every LISTEN socket of the sandbox's network namespace, or null when procfs does not show them. */
export function readListeners(procRoot = '/proc'): Listener[] | null {
  const out: Listener[] = [];
  let seen = false;
  for (const [file, family] of [
    ['tcp', 4],
    ['tcp6', 6],
  ] as const) {
    try {
      out.push(...parseListeners(readFileSync(`${procRoot}/net/${file}`, 'utf8'), family));
      seen = true;
    } catch {
      // No IPv6 in this kernel, or a procfs without net/ (then the connect itself decides).
    }
  }
  return seen ? out : null;
}

/**
 * Where to connect for `port`: 127.0.0.1 for an IPv4 listener (any or loopback address), ::1 for an IPv6-only one.
 * null when nothing listens on the port. Sandboxes have only `lo`, so every listener is reachable on loopback.
 */
export function targetFor(listeners: Listener[], port: number): string | null {
  const on = listeners.filter((l) => l.port === port);
  const v4 = on.find((l) => l.family === 4);
  if (v4) return v4.address === '0.0.0.0' ? '127.0.0.1' : v4.address;
  return on.length > 0 ? '::1' : null;
}

export interface TunnelDeps {
  /** berthd's tunnel socket (`SANDBOX_PATHS.tunnelSocket`). */
  socketPath: string;
  /** Ports of the runner's own forwarders: never tunnelled (they lead to the model gateway and the egress proxy). */
  reservedPorts: () => Promise<number[]>;
  log: Logger;
  procRoot?: string;
}

/**
 * Serves one `open_tunnel`: checks that something in the sandbox listens on the port, connects to it and to berthd's
 * tunnel socket, sends the header and relays bytes both ways (half-closes included). A refusal is sent as a header
 * with `ok: false` on a connection that then ends, so berthd answers its client with the reason at once.
 */
export async function openTunnel(frame: OpenTunnelFrame, deps: TunnelDeps): Promise<void> {
  const refusal = await refusalFor(frame.port, deps);
  let target: net.Socket | undefined;
  let header: TunnelHeader;
  if (refusal) header = { tunnel_id: frame.tunnel_id, ok: false, ...refusal };
  else {
    const listeners = readListeners(deps.procRoot);
    const host = listeners ? targetFor(listeners, frame.port) : '127.0.0.1';
    try {
      if (!host) throw Object.assign(new Error('not listening'), { code: 'ECONNREFUSED' });
      target = await connect({ host, port: frame.port });
      header = { tunnel_id: frame.tunnel_id, ok: true };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      header =
        code === 'ECONNREFUSED'
          ? {
              tunnel_id: frame.tunnel_id,
              ok: false,
              error: 'not_listening',
              message: `nothing in the sandbox listens on port ${frame.port}`,
            }
          : {
              tunnel_id: frame.tunnel_id,
              ok: false,
              error: 'connect_failed',
              message: `connecting to port ${frame.port} failed: ${code ?? (err as Error).message}`,
            };
    }
  }
  let upstream: net.Socket;
  try {
    upstream = await connect({ path: deps.socketPath });
  } catch (err) {
    deps.log.warn('tunnel socket unreachable', { err, port: frame.port });
    target?.destroy();
    return;
  }
  upstream.write(JSON.stringify(header) + '\n');
  if (!target) {
    upstream.end();
    return;
  }
  relay(target, upstream, deps.log);
}

async function refusalFor(port: number, deps: TunnelDeps): Promise<Omit<TunnelHeader, 'tunnel_id' | 'ok'> | null> {
  const reserved = await deps.reservedPorts().catch(() => [] as number[]);
  if (reserved.includes(port)) {
    return { error: 'reserved', message: `port ${port} belongs to Berth's runner (a forwarder), not to the agent` };
  }
  return null;
}

function connect(opts: { host: string; port: number } | { path: string }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ ...opts, allowHalfOpen: true, noDelay: true } as net.NetConnectOpts);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function relay(a: net.Socket, b: net.Socket, log: Logger): void {
  const done = (err?: Error) => {
    if (err) log.debug('tunnel connection closed with an error', { err });
    a.destroy();
    b.destroy();
  };
  a.on('error', done);
  b.on('error', done);
  a.on('close', () => b.end());
  b.on('close', () => a.end());
  // pipe() ends the destination when the source ends, which forwards each half-close.
  a.pipe(b);
  b.pipe(a);
}
