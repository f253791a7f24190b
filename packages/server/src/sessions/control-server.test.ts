import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId, type RunnerFrame } from '@berth/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlServer } from './control-server.js';

const SESSION = newId('session');
const hello = { type: 'hello', sandbox_id: 'sbx_test', runner_version: 't', pid: 1, sessions: [] };
const event = (seq: number) => ({
  type: 'event',
  session_id: SESSION,
  seq,
  event: { id: newId('event'), type: 'session.status_running' },
});

/**
 * A store write that fails (a full disk) must not lose the runner's event: the control server drops the
 * connection instead of handling the next frames, so the runner re-sends from its outbox. The "runner" here is a
 * fake (a raw socket writing frames), standing in for the real one, which tests elsewhere drive end to end.
 */
describe('ControlServer when an event cannot be stored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-'));
  let server: ControlServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  const open = (path: string) =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect(path, () => resolve(s));
      s.once('error', reject);
    });
  const send = (s: Socket, frames: object[]) => s.write(frames.map((f) => JSON.stringify(f) + '\n').join(''));
  const closed = (s: Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));

  it('drops the connection at the failed event and handles nothing after it; the re-sent frames are stored', async () => {
    const path = join(dir, 'control.sock');
    const stored: number[] = [];
    let failNext = true;
    let disconnects = 0;
    server = new ControlServer(
      path,
      {
        onHello: async () => undefined,
        onFrame: async (f: Exclude<RunnerFrame, { type: 'hello' }>) => {
          if (f.type !== 'event') return;
          if (failNext && f.seq === 2) {
            failNext = false;
            throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
          }
          stored.push(f.seq);
        },
        onDisconnect: () => void disconnects++,
      },
      pino({ level: 'silent' }),
    );
    await server.listen();
    const first = await open(path);
    const gone = closed(first);
    send(first, [hello, event(1), event(2), event(3)]);
    await gone;
    expect(stored).toEqual([1]); // 3 was not handled after 2 failed: its ack would have covered 2
    expect(disconnects).toBe(1);
    // The runner reconnects and re-sends what was not acknowledged.
    const second = await open(path);
    send(second, [hello, event(2), event(3)]);
    await expect.poll(() => stored, { timeout: 2000 }).toEqual([1, 2, 3]);
    second.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
});
