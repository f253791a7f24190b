import Anthropic, { APIError, OverloadedError } from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Scenario } from './schema.js';
import { startScriptedModel, type RecordedRequest, type ScriptedModel } from './server.js';

const usage = { input_tokens: 120, output_tokens: 30, cache_creation_input_tokens: 7, cache_read_input_tokens: 11 };

const scenarios: Scenario[] = [
  {
    name: 'three',
    turns: [
      {
        content: [
          { type: 'thinking', thinking: 'Let me write it.' },
          { type: 'text', text: 'Writing it.' },
          {
            type: 'tool_use',
            name: 'Write',
            input: { file_path: '/workspace/a-rather-long-file-name.txt', content: 'hi\n' },
          },
        ],
        usage,
      },
      { content: [{ type: 'text', text: 'second' }], usage: { input_tokens: 5 } },
      { content: [{ type: 'text', text: 'third' }] },
    ],
  },
  { name: 'loop', after: 'repeat-last', turns: [{ content: [{ type: 'text', text: 'again' }] }] },
  { name: 'fail', turns: [{ error: { status: 529, type: 'overloaded_error', message: 'try later' } }] },
  { name: 'price', turns: [{ content: [{ type: 'tool_use', name: 'lookup_price', input: { sku: 'A1' } }] }] },
  { name: 'slow', turns: [{ content: [{ type: 'text', text: 'late' }], delay_ms: 400 }] },
  {
    name: 'same-id',
    after: 'repeat-last',
    turns: [{ content: [{ type: 'text', text: 'once' }], usage, message_id: 'msg_fixed_1' }],
  },
];

const tool = (name: string): Anthropic.Tool => ({ name, input_schema: { type: 'object', properties: {} } });
const user = (text: string): Anthropic.MessageParam => ({ role: 'user', content: text });
const assistant = (text: string): Anthropic.MessageParam => ({ role: 'assistant', content: text });
const base = { model: 'claude-test', max_tokens: 1024 };

let model: ScriptedModel;
let client: Anthropic;
beforeEach(async () => {
  model = await startScriptedModel({ scenarios });
  client = new Anthropic({ baseURL: model.url, apiKey: 'test', maxRetries: 0 });
});
afterEach(async () => {
  await model.close();
});

function textOf(message: Anthropic.Message): string {
  return message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

describe('scripted model with the official SDK', () => {
  it('answers the default scenario without streaming, with a stable estimated usage', async () => {
    const params = { ...base, messages: [user('hello')] };
    const a = await client.messages.create(params);
    const b = await client.messages.create(params);
    expect(textOf(a)).toContain('scripted model');
    expect(a.stop_reason).toBe('end_turn');
    expect(a.usage.input_tokens).toBeGreaterThan(0);
    expect(b.usage).toEqual(a.usage);
    expect(a.id).not.toBe(b.id); // the CLI merges replies that share an id
    expect(model.requests.map((r) => [r.path, r.scenario, r.turn])).toEqual([
      ['/v1/messages', 'default', 0],
      ['/v1/messages', 'default', 0],
    ]);
  });

  it('streams thinking, text and chunked tool input with the exact usage (with ?beta=true, as the CLI)', async () => {
    const params = { ...base, messages: [user('go [scenario:three]')], tools: [tool('Write')] };
    const stream = client.messages.stream(params, { query: { beta: 'true' } });
    const events: string[] = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const message = await stream.finalMessage();
    expect(message.usage).toMatchObject(usage);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use']);
    const call = message.content[2];
    expect(call?.type === 'tool_use' && call.id).toMatch(/^toolu_/);
    expect(call?.type === 'tool_use' && call.input).toEqual({
      file_path: '/workspace/a-rather-long-file-name.txt',
      content: 'hi\n',
    });
    expect(events[0]).toBe('message_start');
    expect(events.filter((e) => e === 'content_block_delta').length).toBeGreaterThan(4);
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(model.requests[0]?.url).toBe('/v1/messages?beta=true');
  });

  it('puts exact input/cache counts in message_start and all four in message_delta', async () => {
    const stream = await client.messages.create({
      ...base,
      stream: true,
      messages: [user('[scenario:three]')],
      tools: [tool('Write')],
    });
    const seen: Record<string, unknown> = {};
    for await (const event of stream) {
      if (event.type === 'message_start') seen.start = event.message.usage;
      if (event.type === 'message_delta') seen.delta = event.usage;
    }
    expect(seen.start).toMatchObject({ ...usage, output_tokens: 0 });
    expect(seen.delta).toMatchObject(usage);
  });

  it('selects the turn by the number of model turns in the history', async () => {
    const reply = (messages: Anthropic.MessageParam[]) => client.messages.create({ ...base, messages });
    const second = await reply([user('[scenario:three]'), assistant('one'), user('next')]);
    expect(textOf(second)).toBe('second');
    expect(second.usage).toEqual({
      input_tokens: 5,
      output_tokens: 0,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
    // Consecutive assistant messages are one model turn; system entries inside messages are ignored.
    const system = { role: 'system', content: '[scenario:loop]' } as unknown as Anthropic.MessageParam;
    const split = [system, user('[scenario:three]'), system, assistant('a'), assistant('b'), user('next')];
    expect(textOf(await reply(split))).toBe('second');
    const third = await reply([user('[scenario:three]'), assistant('1'), user('2'), assistant('3'), user('4')]);
    expect(textOf(third)).toBe('third');
    expect(model.requests.map((r) => r.turn)).toEqual([1, 1, 2]);
  });

  it('ends with a notice past the last turn, or repeats the last turn', async () => {
    const history = (name: string) => [
      user(`[scenario:${name}]`),
      assistant('1'),
      user('2'),
      assistant('3'),
      user('4'),
      assistant('5'),
      user('6'),
    ];
    expect(textOf(await client.messages.create({ ...base, messages: history('three') }))).toBe(
      '(scenario three has no more turns)',
    );
    expect(textOf(await client.messages.create({ ...base, messages: history('loop') }))).toBe('again');
  });

  it('answers an error turn with its status and the Anthropic error shape', async () => {
    const err = await client.messages.create({ ...base, messages: [user('[scenario:fail]')] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OverloadedError);
    const apiError = err as APIError;
    expect(apiError.status).toBe(529);
    expect(apiError.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: 'try later' } });
    expect(apiError.requestID).toMatch(/^req_/);
  });

  it('resolves a scripted tool name by suffix, and refuses one that is not offered', async () => {
    const messages = [user('[scenario:price]')];
    const ok = await client.messages.create({
      ...base,
      messages,
      tools: [tool('Bash'), tool('mcp__custom__lookup_price')],
    });
    expect(ok.content[0]).toMatchObject({ type: 'tool_use', name: 'mcp__custom__lookup_price', input: { sku: 'A1' } });
    expect(ok.stop_reason).toBe('tool_use');
    const err = await client.messages
      .create({ ...base, messages, tools: [tool('Bash'), tool('Read')] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as APIError).apiMessage).toMatch(
      /"lookup_price" is not offered by this request; offered tools: Bash, Read/,
    );
    const none = await client.messages.create({ ...base, messages });
    expect(none.content.some((b) => b.type === 'tool_use')).toBe(false);
    expect(none.stop_reason).toBe('end_turn');
  });

  it('rejects an unknown scenario, listing the known ones', async () => {
    const err = await client.messages.create({ ...base, messages: [user('[scenario:nope]')] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as APIError).type).toBe('invalid_request_error');
    expect((err as APIError).apiMessage).toMatch(
      /unknown scenario "nope".*known scenarios: default, fail, loop, price, same-id, slow, three, write-and-run/,
    );
  });

  it('answers a tool-less structured-output call with JSON that fits the schema', async () => {
    const schema = {
      type: 'object',
      properties: { title: { type: 'string' } },
      required: ['title'],
      additionalProperties: false,
    };
    const params = {
      ...base,
      tools: [],
      messages: [user('<session>\n[scenario:three]\n</session>')],
      output_config: { format: { type: 'json_schema', schema } },
    };
    const reply = await client.messages.create(params as Anthropic.MessageCreateParamsNonStreaming);
    expect(JSON.parse(textOf(reply))).toEqual({ title: 'Scripted three' });
    expect(model.requests[0]).toMatchObject({ scenario: 'three', turn: null });
  });

  it('answers count_tokens and /api/hello', async () => {
    const counted = await client.messages.countTokens({ model: 'm', messages: [user('hello')] });
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect((await fetch(`${model.url}/api/hello`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${model.url}/api/hello`)).status).toBe(200);
    const missing = await fetch(`${model.url}/v1/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(model.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/messages/count_tokens',
      'HEAD /api/hello',
      'GET /api/hello',
      'GET /v1/nothing',
    ]);
  });

  it('emits request events on arrival, before a delayed reply, and close() does not wait out delays', async () => {
    const arrived: RecordedRequest[] = [];
    const fn = (r: RecordedRequest) => arrived.push(r);
    model.on('request', fn);
    const pending = client.messages.create({ ...base, messages: [user('[scenario:slow]')] });
    await expect.poll(() => arrived.length).toBe(1);
    expect(arrived[0]).toMatchObject({
      method: 'POST',
      scenario: 'slow',
      turn: 0,
      headers: { authorization: 'Bearer test' },
    });
    expect(textOf(await pending)).toBe('late');
    model.off('request', fn);
    await client.messages.create({ ...base, messages: [user('hi')] });
    expect(arrived).toHaveLength(1);
    expect(model.requests).toHaveLength(2);

    void client.messages.create({ ...base, messages: [user('[scenario:slow]')] }).catch(() => undefined);
    await expect.poll(() => model.requests.length).toBe(3);
    const started = Date.now();
    await model.close();
    expect(Date.now() - started).toBeLessThan(300);
  });

  it('adds scenarios at run time, validated', async () => {
    model.addScenario({ name: 'late', turns: [{ content: [{ type: 'text', text: 'added' }] }] });
    expect(textOf(await client.messages.create({ ...base, messages: [user('[scenario:late]')] }))).toBe('added');
    expect(() => model.addScenario({ name: 'bad name', turns: [] })).toThrow(/name: must be/);
  });
});

describe('apiKey enforcement', () => {
  it('refuses a wrong key with 401 and accepts the right one by x-api-key or bearer token', async () => {
    const guarded = await startScriptedModel({ apiKey: 'sk-real' });
    const raw = (key: string) =>
      fetch(`${guarded.url}/v1/messages?beta=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ ...base, messages: [user('hi')] }),
      });
    try {
      // The official SDK 1.14 sends its apiKey as `Authorization: Bearer`; the CLI sends `x-api-key`.
      const wrong = new Anthropic({ baseURL: guarded.url, apiKey: 'sk-session-token', maxRetries: 0 });
      const err = await wrong.messages.create({ ...base, messages: [user('hi')] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
      expect((err as APIError).type).toBe('authentication_error');
      const right = new Anthropic({ baseURL: guarded.url, apiKey: 'sk-real', maxRetries: 0 });
      expect((await right.messages.create({ ...base, messages: [user('hi')] })).type).toBe('message');
      expect((await raw('sk-session-token')).status).toBe(401);
      expect((await raw('sk-real')).status).toBe(200);
      expect(guarded.requests.map((r) => r.headers['x-api-key'] ?? r.headers.authorization)).toEqual([
        'Bearer sk-session-token',
        'Bearer sk-real',
        'sk-session-token',
        'sk-real',
      ]);
    } finally {
      await guarded.close();
    }
  });

  it('records what each messages request was answered, and can repeat a fixed message id', async () => {
    const a = await client.messages.create({ ...base, messages: [user('[scenario:same-id] go')] });
    const b = await client.messages.create({
      ...base,
      stream: true,
      messages: [user('[scenario:same-id] go'), assistant('once'), user('again')],
    });
    let streamed: string | undefined;
    for await (const e of b) if (e.type === 'message_start') streamed = e.message.id;
    expect(a.id).toBe('msg_fixed_1');
    expect(streamed).toBe('msg_fixed_1');
    await client.messages.create({ ...base, messages: [user('[scenario:fail] x')] }).catch(() => undefined);
    const replies = model.requests.filter((r) => r.path === '/v1/messages').map((r) => r.reply);
    expect(replies).toEqual([
      { status: 200, message_id: 'msg_fixed_1', model: 'claude-test', usage },
      { status: 200, message_id: 'msg_fixed_1', model: 'claude-test', usage },
      { status: 529, message_id: null, model: null, usage: null },
    ]);
  });
});
