import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@berth/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { EventLog, type WireEvent } from '../sessions/event-log.js';
import { openSqlite } from '../store/open.js';
import type { Store } from '../store/store.js';
import { systemClock } from './common.js';
import { encodeFrames, SseHub, type SseSink } from './sse-hub.js';
import { seedSession } from './session-seed.test-support.js';

/**
 * The hub against a real SQLite store and event log. The sinks are stand-ins for HTTP responses (named as such):
 * they record the buffers handed to them, and report as "buffered" whatever the test says a client left unread.
 */
class FakeSink implements SseSink {
  chunks: Buffer[] = [];
  unread = 0;
  ended: 'closed' | 'slow' | undefined;
  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
  buffered(): number {
    return this.unread;
  }
  end(why: 'closed' | 'slow'): void {
    this.ended = why;
  }
  corks = 0;
  uncorks = 0;
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    this.uncorks++;
  }
  /** Event ids in the frames received, in order. */
  ids(): string[] {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return [...text.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1]!) as WireEvent).id);
  }
}

const logger = createLogger('silent');
let dir = '';
let store: Store;
let log: EventLog;
let sessionId = '';

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-sse-'));
  store = openSqlite(join(dir, 'berth.db'));
  await store.migrate();
  log = new EventLog(store, systemClock, logger);
  sessionId = await seedSession(store);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const message = (): { id: string; type: string; content: [] } => ({
  id: newId('event'),
  type: 'agent.message',
  content: [],
});
const history = async () => (await store.listEvents(sessionId, { limit: 100_000, order: 'asc' })).data.map((e) => e.id);

describe('encodeFrames', () => {
  it('frames each event as `event: <type>` and `data: <json>`, in order', () => {
    const a = { id: 'sevt_a', type: 'agent.message', text: 'line1\nline2 é' };
    const b = { id: 'sevt_b', type: 'session.status_idle' };
    expect(encodeFrames([a, b]).toString('utf8')).toBe(
      `event: agent.message\ndata: ${JSON.stringify(a)}\n\nevent: session.status_idle\ndata: ${JSON.stringify(b)}\n\n`,
    );
  });
});

describe('SseHub', () => {
  it('hands one shared buffer per append to every stream, holding all of the append in order', async () => {
    const hub = new SseHub(log, logger);
    const sinks = [new FakeSink(), new FakeSink(), new FakeSink()];
    sinks.forEach((s) => hub.attach(sessionId, s));
    await log.append(sessionId, [message(), message(), message()]);
    await log.append(sessionId, [message()]);
    for (const s of sinks) {
      expect(s.chunks).toHaveLength(2);
      expect(s.chunks[0]).toBe(sinks[0]!.chunks[0]);
      expect(s.ids()).toEqual(await history());
    }
  });

  it('sends the first batch of a loop turn at once and holds the later ones (corked) until the check phase', async () => {
    const hub = new SseHub(log, logger);
    const sink = new FakeSink();
    hub.attach(sessionId, sink);
    log.publish(sessionId, { id: newId('event'), type: 'agent.message' });
    expect([sink.chunks.length, sink.corks]).toEqual([1, 0]);
    const late = new FakeSink();
    hub.attach(sessionId, late); // joins mid-turn: gets only what follows, and is corked for it too
    log.publish(sessionId, { id: newId('event'), type: 'agent.message' });
    log.publish(sessionId, { id: newId('event'), type: 'agent.message' });
    expect([sink.chunks.length, sink.corks, sink.uncorks]).toEqual([3, 1, 0]);
    expect([late.chunks.length, late.corks]).toEqual([2, 1]);
    await new Promise((r) => setImmediate(r));
    expect([sink.uncorks, late.uncorks]).toEqual([1, 1]);
    log.publish(sessionId, { id: newId('event'), type: 'agent.message' });
    expect([sink.chunks.length, sink.corks]).toEqual([4, 1]); // a new turn: at once again
  });

  it('ends a stream with its closing event and sends nothing after it', async () => {
    const hub = new SseHub(log, logger);
    const sink = new FakeSink();
    hub.attach(sessionId, sink);
    const terminated = { id: newId('event'), type: 'session.status_terminated' };
    await log.append(sessionId, [message(), terminated, message()]);
    expect(sink.ended).toBe('closed');
    expect(sink.ids()).toEqual((await history()).slice(0, 2));
    expect(hub.count(sessionId)).toBe(0);
    log.publish(sessionId, { id: newId('event'), type: 'session.deleted' });
    expect(sink.chunks).toHaveLength(1);
  });

  it('cuts a client that does not read, and the others still get every event', async () => {
    const hub = new SseHub(log, logger, 1000);
    const slow = new FakeSink();
    const fast = new FakeSink();
    hub.attach(sessionId, slow);
    hub.attach(sessionId, fast);
    await log.append(sessionId, [message()]);
    slow.unread = 1001;
    await log.append(sessionId, [message()]);
    expect(slow.ended).toBe('slow');
    expect(fast.ended).toBeUndefined();
    await log.append(sessionId, [message(), message()]);
    expect(slow.chunks).toHaveLength(2);
    expect(fast.ids()).toEqual(await history());
    expect(hub.count(sessionId)).toBe(1);
  });

  it('a cut client resumes as SSE clients do: new stream, then the listed history, deduped by id', async () => {
    const hub = new SseHub(log, logger, 1000);
    const slow = new FakeSink();
    hub.attach(sessionId, slow);
    await log.append(sessionId, [message()]);
    slow.unread = 5000;
    await log.append(sessionId, [message()]);
    await log.append(sessionId, [message()]); // published while the client is away
    const again = new FakeSink();
    hub.attach(sessionId, again);
    const listed = await history();
    await log.append(sessionId, [message()]);
    const all = await history();
    expect(slow.ids()).toEqual(all.slice(0, 2)); // nothing reached it once cut
    expect([...new Set([...slow.ids(), ...listed, ...again.ids()])]).toEqual(all);
    expect(again.ids()).toEqual((await history()).slice(-1));
  });

  it('drops its event-log subscription with the last stream and takes a new one for the next', async () => {
    const hub = new SseHub(log, logger);
    const first = new FakeSink();
    hub.attach(sessionId, first)();
    expect(hub.count(sessionId)).toBe(0);
    await log.append(sessionId, [message()]);
    expect(first.chunks).toHaveLength(0);
    const second = new FakeSink();
    const detach = hub.attach(sessionId, second);
    await log.append(sessionId, [message()]);
    expect(second.ids()).toEqual((await history()).slice(-1));
    detach();
    detach(); // twice is harmless
    expect(hub.count(sessionId)).toBe(0);
  });
});
