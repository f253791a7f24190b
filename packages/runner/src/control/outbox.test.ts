import { describe, expect, it } from 'vitest';
import { EventFrameSchema, MAX_FRAME_BYTES, newId, type RunnerEvent } from '@berth/protocol';
import { Outbox } from './outbox.js';

const S1 = newId('session');
const S2 = newId('session');
const ev = (): RunnerEvent => ({ id: newId('event'), type: 'session.status_running' });
const seqs = (entries: { seq: number }[]) => entries.map((e) => e.seq);

describe('Outbox', () => {
  it('numbers events per session from 1 and encodes valid event frames', () => {
    const o = new Outbox(MAX_FRAME_BYTES);
    const a = o.push(S1, ev());
    const b = o.push(S1, ev());
    const c = o.push(S2, ev());
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 1]);
    expect(a.line.endsWith('\n')).toBe(true);
    expect(EventFrameSchema.parse(JSON.parse(a.line))).toMatchObject({ session_id: S1, seq: 1 });
  });

  it('drops acked events cumulatively and re-sends the rest after welcome, in order', () => {
    const o = new Outbox(MAX_FRAME_BYTES);
    for (let i = 0; i < 5; i++) o.push(S1, ev());
    for (let i = 0; i < 2; i++) o.push(S2, ev());
    o.ack(S1, 2);
    expect(o.unackedCount(S1)).toBe(3);
    const resend = o.applyWelcome([{ session_id: S1, acked_seq: 3 }]);
    // S2 is not mentioned by berthd, so everything of it is re-sent.
    expect(resend.map((e) => [e.sessionId, e.seq])).toEqual([
      [S1, 4],
      [S1, 5],
      [S2, 1],
      [S2, 2],
    ]);
    expect(o.push(S1, ev()).seq).toBe(6);
  });

  it('lists hosted sessions with their last seq for hello', () => {
    const o = new Outbox(MAX_FRAME_BYTES);
    o.open(S1);
    o.push(S1, ev());
    o.open(S2);
    expect(o.hostedSessions()).toEqual([
      { session_id: S1, last_seq: 1 },
      { session_id: S2, last_seq: 0 },
    ]);
  });

  it('keeps a closed session until acked and never reuses its seqs', () => {
    const o = new Outbox(MAX_FRAME_BYTES);
    o.open(S1);
    o.push(S1, ev());
    o.close(S1);
    expect(o.hostedSessions()).toEqual([]);
    expect(seqs(o.applyWelcome([]))).toEqual([1]);
    o.ack(S1, 1);
    expect(o.unackedCount()).toBe(0);
    o.open(S1);
    expect(o.push(S1, ev()).seq).toBe(2);
  });

  it('continues after the seq berthd already has for a session this runner never hosted (a resumed session)', () => {
    const o = new Outbox(MAX_FRAME_BYTES);
    expect(o.applyWelcome([{ session_id: S1, acked_seq: 41 }])).toEqual([]);
    o.open(S1);
    expect(o.push(S1, ev()).seq).toBe(42);
    // A lower ack later never moves it back.
    o.ack(S2, 7);
    o.ack(S2, 3);
    o.open(S2);
    expect(o.push(S2, ev()).seq).toBe(8);
  });

  it('makes emitters wait when over its bound and lets them go on ack', async () => {
    const o = new Outbox(MAX_FRAME_BYTES, { maxEvents: 2, maxBytes: 1 << 20 });
    o.push(S1, ev());
    o.push(S1, ev());
    expect(o.hasRoom()).toBe(false);
    let released = false;
    const waiting = o.waitForRoom().then(() => (released = true));
    await Promise.resolve();
    expect(released).toBe(false);
    o.ack(S1, 1);
    await waiting;
    expect(released).toBe(true);
  });

  it('refuses an event whose frame would exceed the limit', () => {
    const o = new Outbox(200);
    expect(() =>
      o.push(S1, { id: newId('event'), type: 'agent.message', content: [{ type: 'text', text: 'x'.repeat(300) }] }),
    ).toThrow();
    expect(o.lastSeq(S1)).toBe(0);
  });
});
