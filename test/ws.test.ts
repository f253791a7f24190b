import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';
import { ChannelClient, HandshakeRefused, endsTurn, type Ev } from './ws-client.js';

const KEY = 'bsk_test_admin_key_0123456789';
const MAX_BODY = 64 * 1024;

const scenarios = [
  {
    name: 'ws',
    turns: [
      {
        content: [
          { type: 'text', text: 'Writing it.' },
          { type: 'tool_use', name: 'Write', input: { file_path: '/workspace/a.txt', content: 'a\n' } },
        ],
      },
      { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'cat /workspace/a.txt' } }] },
      { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'echo two' } }] },
      { content: [{ type: 'text', text: 'Done.' }] },
    ],
  },
];

const message = (text: string) => ({ type: 'user.message', content: [{ type: 'text', text }] });

describe.skipIf(e2eSkipReason() !== false)('WebSocket session channel', () => {
  let t: TestBerth;
  let log = '';
  let agentId = '';
  let envId = '';
  beforeAll(async () => {
    const logStream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        log += chunk.toString('utf8');
        cb();
      },
    });
    // Debug level: every line berthd can write about a handshake is captured, to check the key never appears.
    t = await startTestBerth({
      scenarios,
      logStream,
      config: { logLevel: 'debug', maxBodyBytes: MAX_BODY, sseHeartbeatMs: 300 },
    });
    ({ agentId, envId } = await agentAndEnv(t.client));
  });
  afterAll(async () => t?.close());

  const newSession = async () => (await t.client.beta.sessions.create({ agent: agentId, environment_id: envId })).id;
  /** The session's whole history as events.list serves it, oldest first. */
  const history = async (id: string): Promise<Ev[]> => {
    const res = await fetch(`${t.app.url}/v1/sessions/${id}/events?order=asc&limit=1000`, {
      headers: { 'x-api-key': KEY },
    });
    return ((await res.json()) as { data: Ev[] }).data;
  };

  it('runs a turn sent over the socket: the same events, ids and objects as events.list and the SSE stream', async () => {
    const id = await newSession();
    const sse = await t.client.beta.sessions.events.stream(id);
    const ch = await ChannelClient.open(t.app.url, id, { key: KEY, after: 'start' });
    // One bare event object (the `{events:[…]}` form is exercised below).
    ch.send(message('[scenario:ws] go'));
    const end = await ch.waitFor(endsTurn);
    const sseEvents: Ev[] = [];
    for await (const raw of sse) {
      sseEvents.push(raw as unknown as Ev);
      if (endsTurn(raw as unknown as Ev)) break;
    }
    const got = ch.frames.slice(0, end + 1);
    expect(got).toEqual(await history(id));
    const userAt = got.findIndex((e) => e.type === 'user.message');
    expect(userAt).toBeGreaterThanOrEqual(0);
    expect(got.filter((e) => e.type === 'agent.tool_use').length).toBe(3);
    // SSE carries live events only; from the user.message on both channels carry identical objects.
    expect(got.slice(userAt)).toEqual(sseEvents.slice(sseEvents.findIndex((e) => e.type === 'user.message')));
    ch.close();
  });

  it('answers invalid frames with an error frame and stays usable', async () => {
    const id = await newSession();
    const ch = await ChannelClient.open(t.app.url, id, { key: KEY });
    ch.send('not json');
    ch.send({ type: 'user.message', content: [] });
    ch.send({ events: [{ type: 'user.tool_result', tool_use_id: 'x' }] });
    ch.ws.send(Buffer.from('{}'), { binary: true });
    await ch.waitFor(() => true, 3);
    const errors = ch.frames.slice(0, 4) as unknown as { type: string; error: { type: string; details: object } }[];
    expect(errors.map((e) => e.type)).toEqual(['error', 'error', 'error', 'error']);
    expect(errors.map((e) => e.error.details)).toMatchObject([
      { error_code: 'invalid_json' },
      { error_code: 'invalid_request' },
      { error_code: 'unsupported_feature' },
      { error_code: 'invalid_request' },
    ]);
    expect(errors[1]!.error.type).toBe('invalid_request_error');
    ch.send({ events: [message('[scenario:ws] after errors')] });
    const end = await ch.waitFor(endsTurn, 4);
    const turn = ch.frames.slice(4, end + 1);
    expect(turn[0]).toMatchObject({ type: 'user.message' });
    const all = await history(id);
    expect(turn).toEqual(all.slice(all.findIndex((e) => e.id === turn[0]!.id)));
    ch.close();
  });

  it('resumes after a reconnect mid-turn without gaps or duplicates', async () => {
    const id = await newSession();
    const first = await ChannelClient.open(t.app.url, id, { key: KEY, after: 'start' });
    first.send(message('[scenario:ws] resume'));
    const at = await first.waitFor((e) => e.type === 'agent.tool_use');
    first.close();
    await first.waitClosed();
    const seen = first.frames.slice();
    expect(seen.some(endsTurn)).toBe(false);
    // Let the turn go on while nobody is connected: part of it must come from the store, the rest live.
    await new Promise((r) => setTimeout(r, 300));
    const reconnectAt = new Date().toISOString();
    const second = await ChannelClient.open(t.app.url, id, { key: KEY, after: seen[seen.length - 1]!.id });
    await second.waitFor(endsTurn);
    const union = [...seen, ...second.frames];
    expect(at).toBeLessThan(union.length - 1);
    // The first resumed event happened while disconnected: it came from the store, not the live subscription.
    expect(String(second.frames[0]!.processed_at) < reconnectAt).toBe(true);
    expect(new Set(union.map((e) => e.id)).size).toBe(union.length);
    expect(union).toEqual(await history(id));
    second.close();
  });

  it('refuses unknown sessions, unknown resume points, missing and wrong keys before the upgrade', async () => {
    const id = await newSession();
    const refused = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HandshakeRefused);
      return err as HandshakeRefused;
    };
    const r404 = await refused(ChannelClient.open(t.app.url, 'sesn_doesnotexist0000', { key: KEY }));
    expect(r404.status).toBe(404);
    expect(JSON.parse(r404.body)).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect((await refused(ChannelClient.open(t.app.url, id, { key: KEY, after: 'sevt_nope' }))).status).toBe(404);
    expect((await refused(ChannelClient.open(t.app.url, id, { key: KEY, after: 'bad id' }))).status).toBe(400);
    expect((await refused(ChannelClient.open(t.app.url, id))).status).toBe(401);
    expect((await refused(ChannelClient.open(t.app.url, id, { key: 'bsk_wrong_key_0123456789' }))).status).toBe(401);
    const wrongProto = ChannelClient.open(t.app.url, id, { protocols: ['berth.v1', 'berth.key.bsk_wrong_key_012345'] });
    expect((await refused(wrongProto)).status).toBe(401);
    // A key protocol without berth.v1 would make the handshake select no protocol; refused with the fix.
    const noV1 = await refused(ChannelClient.open(t.app.url, id, { protocols: [`berth.key.${KEY}`] }));
    expect(noV1.status).toBe(400);
    // A plain GET (no upgrade) is told to use a WebSocket client.
    const plain = await fetch(`${t.app.url}/v1/berth/sessions/${id}/ws`, { headers: { 'x-api-key': KEY } });
    expect(plain.status).toBe(400);
  });

  it('takes the key as a subprotocol (selecting berth.v1, never the key) and keeps it out of the log', async () => {
    const id = await newSession();
    const ch = await ChannelClient.open(t.app.url, id, { protocols: ['berth.v1', `berth.key.${KEY}`] });
    expect(ch.ws.protocol).toBe('berth.v1');
    await new Promise((r) => setTimeout(r, 100));
    ch.close();
    await ch.waitClosed();
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toContain(KEY);
  });

  it('pings, closes oversized frames with 1009, and closes with 1000 when the session is deleted', async () => {
    const id = await newSession();
    const ch = await ChannelClient.open(t.app.url, id, { key: KEY });
    let pings = 0;
    ch.ws.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 1000));
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(ch.closed).toBeUndefined();
    ch.send(message('x'.repeat(MAX_BODY + 1)));
    expect((await ch.waitClosed()).code).toBe(1009);

    const again = await ChannelClient.open(t.app.url, id, { key: KEY });
    await t.client.beta.sessions.delete(id);
    expect(await again.waitClosed()).toEqual({ code: 1000, reason: 'session deleted' });
    expect(again.frames.at(-1)).toMatchObject({ type: 'session.deleted' });
  });

  it('sends the same events whether a message was sent over the socket or POSTed', async () => {
    const id = await newSession();
    const ch = await ChannelClient.open(t.app.url, id, { key: KEY });
    await say(t.client, id, '[scenario:ws] posted');
    const end = await ch.waitFor(endsTurn);
    const all = await history(id);
    expect(ch.frames.slice(0, end + 1)).toEqual(all.slice(all.findIndex((e) => e.id === ch.frames[0]!.id)));
    expect(ch.frames[0]).toMatchObject({ type: 'user.message' });
    ch.close();
  });
});
