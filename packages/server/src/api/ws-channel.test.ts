import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WebSocket } from '@fastify/websocket';
import type { FastifyRequest } from 'fastify';
import { newId } from '@berth/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { EventLog } from '../sessions/event-log.js';
import { openSqlite } from '../store/open.js';
import type { Store } from '../store/store.js';
import { systemClock } from './common.js';
import type { ApiContext } from './context.js';
import { seedSession } from './session-seed.test-support.js';
import { openChannel } from './ws-channel.js';

/**
 * The channel against a real SQLite store and event log while events are appended concurrently: the frames must be
 * exactly the history after the resume point (no gap, no duplicate), whatever the interleaving. The socket is a
 * stand-in that completes writes after a random delay, so replay pages and live appends interleave.
 */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  frames: { id: string; type: string }[] = [];
  closedWith: [number, string] | undefined;
  send(data: string, cb?: (err?: Error) => void): void {
    this.frames.push(JSON.parse(data) as { id: string; type: string });
    setTimeout(() => cb?.(), Math.random() * 3);
  }
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
    this.readyState = 3;
  }
  ping(): void {}
  terminate(): void {}
}

const logger = createLogger('silent');
let dir = '';
let store: Store;
let eventLog: EventLog;
let sessionId = '';

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-ws-'));
  store = openSqlite(join(dir, 'berth.db'));
  await store.migrate();
  eventLog = new EventLog(store, systemClock, logger);
  sessionId = await seedSession(store);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const append = (n: number) =>
  eventLog.append(
    sessionId,
    Array.from({ length: n }, () => ({ id: newId('event'), type: 'agent.message', content: [] })),
  );

function open(afterSeq: number | undefined): FakeSocket {
  const ws = new FakeSocket();
  const ctx = { config: { sseHeartbeatMs: 60_000 }, store, eventLog, sessions: {} } as unknown as ApiContext;
  const req = { log: logger, id: 'req_test' } as unknown as FastifyRequest;
  openChannel(ws as unknown as WebSocket, req, ctx, sessionId, afterSeq);
  return ws;
}

async function history(): Promise<string[]> {
  return (await store.listEvents(sessionId, { limit: 100_000, order: 'asc' })).data.map((e) => e.id);
}

async function settle(ws: FakeSocket, want: number): Promise<void> {
  for (let i = 0; i < 500 && ws.frames.length < want; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50)); // anything extra (a duplicate) would arrive by now
}

describe('WebSocket channel replay + live', () => {
  it.each([0, 1, 700, 1199, 1200])(
    'resumes after seq %i with no gap or duplicate while appends go on',
    async (after) => {
      for (let i = 0; i < 12; i++) await append(100);
      const ws = open(after);
      // Appends race the replay: some land before the high-water mark is read, some during the replay.
      for (let i = 0; i < 30; i++) {
        await append(1 + (i % 4));
        if (i % 3 === 0) await new Promise((r) => setTimeout(r, Math.random() * 5));
      }
      const all = await history();
      await settle(ws, all.length - after);
      expect(ws.frames.map((f) => f.id)).toEqual(all.slice(after));
      expect(ws.closedWith).toBeUndefined();
    },
  );

  it('without a resume point carries exactly the events appended after it opened', async () => {
    await append(50);
    let ws: FakeSocket | undefined;
    for (let i = 0; i < 40; i++) {
      // Opened between two appends: its subscription is queued on the append chain before append #10.
      if (i === 10) ws = open(undefined);
      await append(2);
    }
    const all = await history();
    await settle(ws!, 60);
    expect(ws!.frames.map((f) => f.id)).toEqual(all.slice(50 + 20));
  });

  it('closes with 1000 after session.deleted and 1008 when the client stops reading', async () => {
    const ws = open(undefined);
    await new Promise((r) => setTimeout(r, 10));
    eventLog.publish(sessionId, { id: newId('event'), type: 'session.deleted' });
    expect(ws.closedWith).toEqual([1000, 'session deleted']);

    const slow = open(undefined);
    await new Promise((r) => setTimeout(r, 10));
    slow.bufferedAmount = 9 * 1024 * 1024;
    await append(1);
    expect(slow.closedWith?.[0]).toBe(1008);
    await append(1);
    expect(slow.frames).toHaveLength(1); // nothing more is queued for it once closed
  });
});
