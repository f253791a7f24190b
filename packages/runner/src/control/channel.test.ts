import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES, newId, type RunnerEvent } from '@berth/protocol';
import { createLogger } from '../log.js';
import { TestBerthd } from '../test-support/berthd-harness.js';
import { ControlChannel } from './channel.js';
import { Outbox } from './outbox.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-channel-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const berthd = await TestBerthd.start(dir, 1);
  cleanups.push(() => berthd.close());
  const channel = new ControlChannel({
    socketPath: berthd.controlSocket,
    maxFrameBytes: MAX_FRAME_BYTES,
    outbox: new Outbox(MAX_FRAME_BYTES),
    info: { sandboxId: 'sbx_t', runnerVersion: '0.1.0', pid: process.pid },
    log: createLogger({ level: 'error' }),
    backoff: { initialMs: 10, maxMs: 50 },
  });
  // What the runner core does with berthd's frames once validated.
  channel.client.setLineHandler((line) => {
    const f = JSON.parse(line) as { type: string; sessions?: []; session_id?: string; seq?: number };
    if (f.type === 'welcome') channel.onWelcome(f.sessions!);
    if (f.type === 'ack') channel.onAck(f.session_id!, f.seq!);
  });
  cleanups.push(() => channel.close());
  return { berthd, channel };
}

const ev = (): RunnerEvent => ({ id: newId('event'), type: 'session.status_running' });

describe('ControlChannel', () => {
  it('holds events until welcome, re-sends what berthd lost after a reconnect, and announces stops', async () => {
    const { berthd, channel } = await setup();
    const s = newId('session');
    channel.openSession(s);
    channel.sendEvent(s, ev()); // before connecting: kept
    channel.start();
    await berthd.waitFor(() => berthd.events(s).length === 1, 5000, 'first event');
    expect(berthd.hellos[0]!.sessions).toEqual([{ session_id: s, last_seq: 1 }]);

    berthd.holdAcks = true;
    channel.sendEvent(s, ev());
    channel.sendEvent(s, ev());
    await berthd.waitFor(() => berthd.frames.filter((f) => f.type === 'event').length === 3, 5000, 'held events');
    berthd.dropConnection();
    berthd.holdAcks = false;
    channel.sessionStopped(s); // while disconnected: sent after the next welcome
    await berthd.waitFor(() => berthd.events(s).length === 3, 5000, 'events re-sent');
    await berthd.waitFor(() => berthd.frames.some((f) => f.type === 'session_stopped'), 5000, 'session_stopped');
    expect(berthd.hellos.at(-1)!.sessions).toEqual([]); // stopped: no longer hosted
    expect(berthd.persisted.get(s)!.map((f) => f.seq)).toEqual([1, 2, 3]);
  });

  it('keeps retrying until berthd listens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-channel-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const channel = new ControlChannel({
      socketPath: join(dir, 'control.sock'),
      maxFrameBytes: MAX_FRAME_BYTES,
      outbox: new Outbox(MAX_FRAME_BYTES),
      info: { sandboxId: 'sbx_t', runnerVersion: '0.1.0', pid: process.pid },
      log: createLogger({ level: 'error' }),
      backoff: { initialMs: 10, maxMs: 50 },
    });
    cleanups.push(() => channel.close());
    channel.start();
    await new Promise((r) => setTimeout(r, 200));
    const berthd = await TestBerthd.start(dir, 1);
    cleanups.push(() => berthd.close());
    await berthd.waitFor(() => berthd.hellos.length === 1, 5000, 'hello');
  });
});
