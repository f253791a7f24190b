import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { EventLog } from '../sessions/event-log.js';
import { openSqlite } from '../store/open.js';
import type { Store } from '../store/store.js';
import { systemClock } from './common.js';
import { seedSession } from './session-seed.test-support.js';
import { SseHub } from './sse-hub.js';
import { streamEvents } from './sse.js';

/**
 * streamEvents over real HTTP connections: a client that reads gets every frame in order; one that stops reading is
 * cut once the hub's bound is queued for it, and the others carry on.
 */
const logger = createLogger('silent');
let dir = '';
let store: Store;
let log: EventLog;
let hub: SseHub;
let app: FastifyInstance;
let port = 0;
let sessionId = '';
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-sse-'));
  store = openSqlite(join(dir, 'berth.db'));
  await store.migrate();
  log = new EventLog(store, systemClock, logger);
  sessionId = await seedSession(store);
  hub = new SseHub(log, logger, 256 * 1024);
  app = Fastify({ forceCloseConnections: true });
  app.get('/stream', (req, reply) => streamEvents(req, reply, hub, sessionId, 60_000));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterEach(async () => {
  sockets.forEach((s) => s.destroy());
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw HTTP/1.1 client (so the test sees the bytes on the wire); `text()` is everything received so far. */
async function open(): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  socket.write(`GET /stream HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n`);
  while (!text.includes(': connected\n\n')) await new Promise((r) => setTimeout(r, 5));
  return { socket, text: () => text, closed };
}

const ids = (text: string) => [...text.matchAll(/^data: \{"id":"([^"]+)"/gm)].map((m) => m[1]);
const big = () => ({ id: newId('event'), type: 'agent.message', content: [{ type: 'text', text: 'x'.repeat(4000) }] });

it('sends every frame in order on the wire, and ends the body with the stream on session.deleted', async () => {
  const c = await open();
  expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(c.text()).toMatch(/content-type: text\/event-stream/i);
  for (let i = 0; i < 20; i++) await log.append(sessionId, [big(), big()]);
  const deleted = { id: newId('event'), type: 'session.deleted' };
  log.publish(sessionId, deleted);
  await c.closed;
  const body = c.text().slice(c.text().indexOf('\r\n\r\n') + 4);
  expect(body.startsWith(': connected\n\nevent: agent.message\ndata: {')).toBe(true);
  expect(body.endsWith(`event: session.deleted\ndata: ${JSON.stringify(deleted)}\n\n`)).toBe(true);
  const stored = (await store.listEvents(sessionId, { limit: 100, order: 'asc' })).data.map((e) => e.id);
  expect(ids(body).slice(0, -1)).toEqual(stored);
});

it('cuts a client that stops reading; a reading client still gets every event', async () => {
  const reader = await open();
  const stalled = await open();
  stalled.socket.pause(); // its kernel buffers fill, then berthd's queue for it grows
  expect(hub.count(sessionId)).toBe(2);
  for (let i = 0; i < 400 && hub.count(sessionId) === 2; i++) {
    await log.append(sessionId, Array.from({ length: 10 }, big));
    await new Promise((r) => setTimeout(r, 1)); // the reader reads in this process: give its socket a turn
  }
  expect(hub.count(sessionId)).toBe(1);
  await log.append(sessionId, [big()]);
  const stored = (await store.listEvents(sessionId, { limit: 10_000, order: 'asc' })).data.map((e) => e.id);
  while (ids(reader.text()).length < stored.length) await new Promise((r) => setTimeout(r, 10));
  expect(ids(reader.text())).toEqual(stored);
  stalled.socket.resume();
  await stalled.closed; // destroyed by the server, not merely left behind
  expect(ids(stalled.text()).length).toBeLessThan(stored.length);
});
