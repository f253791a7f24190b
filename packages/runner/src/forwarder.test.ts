import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startForwarder } from './forwarder.js';
import { createLogger } from './log.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('model forwarder', () => {
  it('relays bytes both ways between 127.0.0.1 and the gateway socket, half-close included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-fwd-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'model.sock');
    // The gateway side: echoes everything upper-cased once the client has finished sending.
    const gateway = net.createServer({ allowHalfOpen: true }, (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => s.end(Buffer.concat(chunks).toString().toUpperCase()));
    });
    await new Promise<void>((r) => gateway.listen(path, r));
    cleanups.push(() => new Promise<void>((r) => gateway.close(() => r())));
    const fwd = await startForwarder({ name: 'model', socket: path, log: createLogger({ level: 'error' }) });
    cleanups.push(() => fwd.close());
    expect(fwd.url).toBe(`http://127.0.0.1:${fwd.port}`);

    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.createConnection({ host: '127.0.0.1', port: fwd.port, allowHalfOpen: true });
      let out = '';
      c.on('data', (d: Buffer) => (out += d.toString()));
      c.on('end', () => resolve(out));
      c.on('error', reject);
      c.end('post /v1/messages ' + 'x'.repeat(100_000));
    });
    expect(reply).toBe('POST /V1/MESSAGES ' + 'X'.repeat(100_000));
  });

  it('closes the client connection when the gateway is unreachable', async () => {
    const fwd = await startForwarder({
      name: 'egress',
      socket: '/nonexistent/egress.sock',
      log: createLogger({ level: 'error' }),
    });
    cleanups.push(() => fwd.close());
    await new Promise<void>((resolve) => {
      const c = net.createConnection({ host: '127.0.0.1', port: fwd.port });
      c.on('close', () => resolve());
      c.on('error', () => {});
    });
  });
});
