import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BerthdFrame } from '@berth/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { TunnelError, TunnelSocket } from './tunnel-socket.js';

type OpenFrame = Extract<BerthdFrame, { type: 'open_tunnel' }>;
const SESSION = 'sesn_01JZZZZZZZZZZZZZZZZZZZZZZZ';

/**
 * berthd's end of the tunnel socket, driven by a FAKE runner (this test plays the sandbox side by hand, to send
 * what a hostile sandbox could). The real runner is exercised end to end in test/previews*.test.ts.
 */
describe('TunnelSocket (berthd side, against a fake runner)', () => {
  const dirs: string[] = [];
  const sockets: TunnelSocket[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => s.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function make(opts: { openTimeoutMs?: number; maxTunnels?: number } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'tun-'));
    dirs.push(dir);
    const frames: OpenFrame[] = [];
    const waiters: Array<(f: OpenFrame) => void> = [];
    const ts = new TunnelSocket({
      path: join(dir, 'tunnel.sock'),
      sessionId: SESSION,
      send: (f) => {
        if (f.type !== 'open_tunnel') return;
        const w = waiters.shift();
        if (w) w(f);
        else frames.push(f);
      },
      openTimeoutMs: opts.openTimeoutMs ?? 2000,
      maxTunnels: opts.maxTunnels ?? 8,
      logger: createLogger('silent'),
    });
    await ts.listen();
    sockets.push(ts);
    const nextFrame = () =>
      new Promise<OpenFrame>((resolve) => {
        const f = frames.shift();
        if (f) resolve(f);
        else waiters.push(resolve);
      });
    const dial = (first: string | Buffer) => {
      const c = createConnection(join(dir, 'tunnel.sock'));
      c.write(first);
      return c;
    };
    return { ts, path: join(dir, 'tunnel.sock'), nextFrame, dial };
  }

  const closed = (s: Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));

  it('is a 0666 socket, and relays bytes after a valid header, data sent with the header included', async () => {
    const { ts, path, nextFrame, dial } = await make();
    expect(statSync(path).mode & 0o777).toBe(0o666);
    const opening = ts.open(8080);
    const f = await nextFrame();
    expect(f).toMatchObject({ type: 'open_tunnel', session_id: SESSION, port: 8080 });
    expect(f.tunnel_id).toMatch(/^[0-9a-f]{32}$/);
    const runner = dial(`${JSON.stringify({ tunnel_id: f.tunnel_id, ok: true })}\nHTTP/1.1 200 OK\r\n`);
    const tunnel = await opening;
    // Handed over paused (its consumer attaches first), with the bytes that followed the header kept.
    expect(tunnel.isPaused()).toBe(true);
    const got = await new Promise<string>((resolve) => {
      tunnel.once('data', (d: Buffer) => resolve(d.toString()));
      tunnel.resume();
    });
    expect(got).toBe('HTTP/1.1 200 OK\r\n');
    expect(ts.count).toBe(1);
    const echoed = new Promise<string>((resolve) => runner.once('data', (d: Buffer) => resolve(d.toString())));
    tunnel.write('GET / HTTP/1.1\r\n');
    expect(await echoed).toBe('GET / HTTP/1.1\r\n');
    // The runner's end arrives as 'end' (half-open allowed: its consumer decides); closing it frees the slot.
    const ended = new Promise<void>((resolve) => tunnel.once('end', () => resolve()));
    runner.end();
    await ended;
    tunnel.destroy();
    await closed(tunnel);
    expect(ts.count).toBe(0);
  });

  it("rejects with the runner's refusal", async () => {
    const { ts, nextFrame, dial } = await make();
    const opening = ts.open(9);
    const f = await nextFrame();
    dial(`${JSON.stringify({ tunnel_id: f.tunnel_id, ok: false, error: 'not_listening', message: 'nothing' })}\n`);
    await expect(opening).rejects.toMatchObject({ reason: 'not_listening' });
  });

  it('drops connections with an invalid header, an unknown or reused tunnel id, or an oversized first line', async () => {
    const { ts, nextFrame, dial } = await make();
    const opening = ts.open(8080);
    const f = await nextFrame();
    const forged = [
      dial('not json\n'),
      dial(`${JSON.stringify({ tunnel_id: 'f'.repeat(32), ok: true })}\n`),
      dial(`${JSON.stringify({ tunnel_id: f.tunnel_id, ok: true, extra: 1 })}\n`),
      dial(Buffer.alloc(4096, 'a')),
    ];
    await Promise.all(forged.map(closed));
    // The real answer still opens the tunnel; a second connection claiming the same id is dropped.
    dial(`${JSON.stringify({ tunnel_id: f.tunnel_id, ok: true })}\n`);
    await opening;
    const replay = dial(`${JSON.stringify({ tunnel_id: f.tunnel_id, ok: true })}\n`);
    await closed(replay);
    expect(ts.count).toBe(1);
  });

  it('times out when the runner never answers, and caps tunnels per sandbox', async () => {
    const { ts } = await make({ openTimeoutMs: 200, maxTunnels: 2 });
    const a = ts.open(1);
    const b = ts.open(2);
    await expect(ts.open(3)).rejects.toMatchObject({ reason: 'limit' });
    await expect(a).rejects.toMatchObject({ reason: 'timeout' });
    await expect(b).rejects.toBeInstanceOf(TunnelError);
    expect(ts.count).toBe(0);
  });

  it('close() ends open tunnels and refuses new ones', async () => {
    const { ts, nextFrame, dial } = await make();
    const opening = ts.open(8080);
    const f = await nextFrame();
    const runner = dial(`${JSON.stringify({ tunnel_id: f.tunnel_id, ok: true })}\n`).resume();
    await opening;
    const pending = ts.open(8081).catch((e: unknown) => e);
    const runnerClosed = closed(runner);
    await ts.close();
    await runnerClosed;
    expect(await pending).toMatchObject({ reason: 'closed' });
    await expect(ts.open(8080)).rejects.toMatchObject({ reason: 'closed' });
  });
});
