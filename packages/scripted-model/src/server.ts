import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { randomId } from './ids.js';
import { builtinScenarios, loadScenarioDir, parseScenario } from './load.js';
import { errorBody } from './message.js';
import { planMessages, type Plan } from './plan.js';
import { estimateInputTokens } from './reply.js';
import { readMessagesRequest } from './request.js';
import type { Scenario } from './schema.js';
import { encodeSse, messageEvents } from './sse.js';
import type { Usage } from './message.js';

/** One request the model received, recorded when it arrives. */
export interface RecordedRequest {
  /** `Date.now()` at arrival. */
  at: number;
  method: string;
  /** The path without the query string (`/v1/messages`). */
  path: string;
  /** The path with the query string as received (`/v1/messages?beta=true`). */
  url: string;
  /** Header names lower-cased; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The parsed JSON body (undefined when there was none or it did not parse). */
  body: unknown;
  /** The scenario a `POST /v1/messages` selected (null for other routes). */
  scenario: string | null;
  /** The scripted turn index answered (null for other routes and for title calls). */
  turn: number | null;
  /**
   * What a `POST /v1/messages` was answered, set when the answer is sent: the status, and for a Message its id,
   * model and usage exactly as reported (what a client or gateway should have counted).
   */
  reply?: { status: number; message_id: string | null; model: string | null; usage: Usage | null };
}

/** A running scripted model server. */
export interface ScriptedModel {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash): the value for `ANTHROPIC_BASE_URL`. */
  readonly url: string;
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Subscribes to requests as they arrive (before the reply, and before any `delay_ms`). */
  on(event: 'request', fn: (r: RecordedRequest) => void): this;
  off(event: 'request', fn: (r: RecordedRequest) => void): this;
  /** Adds (or replaces, by name) a scenario; validates it and throws `ScenarioError` if invalid. */
  addScenario(s: Scenario): void;
  /** Stops listening, cuts open connections and cancels pending delays. Idempotent. */
  close(): Promise<void>;
}

/** Options of `startScriptedModel`. */
export interface ScriptedModelOptions {
  /** Listen address; default `127.0.0.1`. */
  host?: string;
  /** Listen port; default 0 (any free port). */
  port?: number;
  /** Scenarios added after the built-in ones (same name replaces). */
  scenarios?: Scenario[];
  /** Directories of `*.json` scenario files, loaded after `scenarios` (same name replaces). */
  scenarioDirs?: string[];
  /** When set, `/v1/*` requests must carry exactly this key (`x-api-key` or `Authorization: Bearer`). */
  apiKey?: string;
  logger?: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void };
}

/** Request bodies up to this size are accepted: agent histories with tool output get large. */
const BODY_LIMIT = 32 * 1024 * 1024;

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

function flattenHeaders(headers: FastifyRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function presentedKey(headers: FastifyRequest['headers']): string | undefined {
  const key = headers['x-api-key'];
  if (typeof key === 'string') return key;
  const auth = headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
}

function sendError(reply: FastifyReply, status: number, type: string, message: string): FastifyReply {
  return reply.code(status).send(errorBody(type, message, String(reply.request.id)));
}

/**
 * Starts a scripted Anthropic Messages API server. Rejects if a scenario (option or directory) is invalid or
 * the address cannot be bound.
 */
export async function startScriptedModel(opts: ScriptedModelOptions = {}): Promise<ScriptedModel> {
  const scenarios = new Map<string, Scenario>();
  const add = (s: Scenario, source: string): void => void scenarios.set(s.name, parseScenario(s, source));
  for (const s of builtinScenarios()) scenarios.set(s.name, s);
  for (const s of opts.scenarios ?? []) add(s, `scenarios option (${String(s?.name)})`);
  for (const dir of opts.scenarioDirs ?? []) for (const s of await loadScenarioDir(dir)) scenarios.set(s.name, s);

  const requests: RecordedRequest[] = [];
  const listeners = new Set<(r: RecordedRequest) => void>();
  const plans = new WeakMap<FastifyRequest, Plan>();
  const recorded = new WeakMap<FastifyRequest, RecordedRequest>();
  // Pending `delay_ms` waits end when the server closes, so close() never waits out a scripted delay.
  const closing = new AbortController();

  function record(req: FastifyRequest, plan: Plan | undefined): void {
    if (recorded.has(req)) return;
    const [path = '/'] = req.url.split('?');
    const r: RecordedRequest = {
      at: Date.now(),
      method: req.method,
      path,
      url: req.url,
      headers: flattenHeaders(req.headers),
      body: req.body,
      scenario: plan?.scenario ?? null,
      turn: plan?.turn ?? null,
    };
    recorded.set(req, r);
    requests.push(r);
    opts.logger?.info({ method: r.method, path, scenario: r.scenario, turn: r.turn }, 'scripted-model request');
    for (const fn of listeners) {
      try {
        fn(r);
      } catch (err) {
        // A failing observer must not change what the model answers.
        opts.logger?.warn({ err }, 'scripted-model request listener threw');
      }
    }
  }

  const app = Fastify({ bodyLimit: BODY_LIMIT, forceCloseConnections: true, genReqId: () => randomId('req_') });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('request-id', req.id);
  });
  app.addHook('preHandler', async (req, reply) => {
    const isMessages = req.method === 'POST' && req.routeOptions.url === '/v1/messages';
    const plan = isMessages ? planMessages(req.body, scenarios) : undefined;
    if (plan) plans.set(req, plan);
    record(req, plan);
    if (opts.apiKey !== undefined && req.url.startsWith('/v1/') && presentedKey(req.headers) !== opts.apiKey) {
      return sendError(reply, 401, 'authentication_error', 'invalid x-api-key: the key does not match this server');
    }
  });

  app.post('/v1/messages', async (req, reply) => {
    const plan = plans.get(req)!;
    if (plan.delayMs > 0) {
      try {
        await sleep(plan.delayMs, undefined, { signal: closing.signal });
      } catch {
        return sendError(reply, 529, 'overloaded_error', 'the scripted model is shutting down');
      }
    }
    const { outcome } = plan;
    const entry = recorded.get(req);
    if (outcome.kind === 'error') {
      if (entry) entry.reply = { status: outcome.status, message_id: null, model: null, usage: null };
      return sendError(reply, outcome.status, outcome.type, outcome.message);
    }
    const m = outcome.message;
    if (entry) entry.reply = { status: 200, message_id: m.id, model: m.model, usage: { ...m.usage } };
    if (!outcome.stream) return reply.send(outcome.message);
    return reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(encodeSse(messageEvents(outcome.message)));
  });

  app.post('/v1/messages/count_tokens', async (req, reply) => {
    const body = readMessagesRequest(req.body);
    if (typeof body === 'string') return sendError(reply, 400, 'invalid_request_error', body);
    return { input_tokens: estimateInputTokens(body) };
  });

  // The CLI may probe reachability with `HEAD /api/hello`; GET routes also answer HEAD.
  app.get('/api/hello', async () => ({ message: 'hello' }));

  app.setNotFoundHandler(async (req, reply) => {
    record(req, undefined);
    return sendError(
      reply,
      404,
      'not_found_error',
      `no route ${req.method} ${req.url.split('?')[0]} on the scripted model`,
    );
  });

  app.setErrorHandler(async (err: { statusCode?: number; message: string }, req, reply) => {
    record(req, undefined);
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
    if (status === 500) opts.logger?.warn({ err }, 'scripted-model internal error');
    const type = ERROR_TYPES[status] ?? (status < 500 ? 'invalid_request_error' : 'api_error');
    return sendError(reply, status, type, err.message);
  });

  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | undefined;

  const model: ScriptedModel = {
    url: `http://${host}:${address.port}`,
    requests,
    on(_event, fn) {
      listeners.add(fn);
      return this;
    },
    off(_event, fn) {
      listeners.delete(fn);
      return this;
    },
    addScenario(s) {
      add(s, `addScenario(${String(s?.name)})`);
    },
    close() {
      closing.abort();
      closed ??= app.close();
      return closed;
    },
  };
  return model;
}
