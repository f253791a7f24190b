import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Host-side state the escape attempts aim at: things a sandbox must never reach. All of it is made before berthd
 * starts (the scripted model reads its scenarios once, so every port and path an attempt names is fixed up front)
 * and removed by `close()`.
 */
export interface EscapeHost {
  /** berthd's data dir (passed as config.dataDir): its database and every sandbox's directory live here. */
  dataDir: string;
  /** The port berthd's API will listen on (host loopback). */
  berthPort: number;
  /** A "secret" HTTP service on host 127.0.0.1 and, when the host has IPv6 loopback, [::1]. */
  secretPort: number;
  secretV6: boolean;
  /** What the secret service and the disallowed origin answer; must never show up in a sandbox. */
  secretToken: string;
  /** The one origin hostile sessions may reach (127.0.0.2): `/go` redirects to the disallowed origin. */
  allowedPort: number;
  /** The disallowed origin (127.0.0.3). */
  deniedPort: number;
  /** An abstract unix socket listener in the host's network namespace (name without the leading NUL). */
  abstractName: string;
  /** A process on the host (the test's child) that attempts try to signal and ptrace. */
  sleeper: ChildProcess;
  /** The serial of a key in root's user keyring on the host, and its payload. */
  hostKey: { serial: number; payload: string } | undefined;
  /** Connections the secret service and the abstract socket received (must stay 0). */
  hits: { secret: number; abstract: number; denied: number };
  close(): Promise<void>;
}

async function listen(server: net.Server, host: string, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/** A port that was free a moment ago (for berthd's API, which must be known before it starts). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s, '127.0.0.1');
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Adds a key to root's user keyring with python3's ctypes (no keyutils binary on the host). */
function addHostKey(payload: string): number | undefined {
  const py =
    'import ctypes,sys;l=ctypes.CDLL(None,use_errno=True);l.syscall.restype=ctypes.c_long;' +
    'k=l.syscall(248,b"user",b"berth-escape",sys.argv[1].encode(),len(sys.argv[1]),-4);print(k)';
  try {
    const serial = Number(execFileSync('python3', ['-c', py, payload], { encoding: 'utf8' }).trim());
    return serial > 0 ? serial : undefined;
  } catch {
    return undefined;
  }
}

function invalidateHostKey(serial: number): void {
  const py = 'import ctypes,sys;l=ctypes.CDLL(None);l.syscall(250,21,int(sys.argv[1]))';
  try {
    execFileSync('python3', ['-c', py, String(serial)]);
  } catch {
    // Best effort: the key holds a random string and nothing reads it.
  }
}

export async function startEscapeHost(): Promise<EscapeHost> {
  // Short: berthd's unix socket paths live below it and must stay under 108 bytes.
  const dataDir = mkdtempSync(join(tmpdir(), 'be-'));
  const secretToken = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
  const hits = { secret: 0, abstract: 0, denied: 0 };
  const servers: net.Server[] = [];

  const secret = http.createServer((_req, res) => {
    hits.secret++;
    res.end(secretToken);
  });
  servers.push(secret);
  const secretPort = await listen(secret, '127.0.0.1');
  let secretV6 = false;
  try {
    const v6 = http.createServer((_req, res) => {
      hits.secret++;
      res.end(secretToken);
    });
    await listen(v6, '::1', secretPort);
    servers.push(v6);
    secretV6 = true;
  } catch {
    // No IPv6 loopback on this host: the IPv6 attempts still run, against nothing.
  }

  const denied = http.createServer((_req, res) => {
    hits.denied++;
    res.end(secretToken);
  });
  servers.push(denied);
  const deniedPort = await listen(denied, '127.0.0.3');
  const allowed = http.createServer((req, res) => {
    if (req.url === '/go') {
      res.writeHead(302, { location: `http://127.0.0.3:${deniedPort}/secret` }).end();
    } else res.end('allowed-origin-ok');
  });
  servers.push(allowed);
  const allowedPort = await listen(allowed, '127.0.0.2');

  const abstractName = `berth-escape-${randomBytes(6).toString('hex')}`;
  const abstract = net.createServer((sock) => {
    hits.abstract++;
    sock.end(secretToken);
  });
  servers.push(abstract);
  await new Promise<void>((r) => abstract.listen(`\0${abstractName}`, () => r()));

  const sleeper = spawn('sleep', ['900'], { stdio: 'ignore' });
  const keyPayload = `HOST-KEY-${randomBytes(8).toString('hex')}`;
  const serial = addHostKey(keyPayload);
  return {
    dataDir,
    berthPort: await freePort(),
    secretPort,
    secretV6,
    secretToken,
    allowedPort,
    deniedPort,
    abstractName,
    sleeper,
    hostKey: serial === undefined ? undefined : { serial, payload: keyPayload },
    hits,
    async close() {
      sleeper.kill('SIGKILL');
      if (serial !== undefined) invalidateHostKey(serial);
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
