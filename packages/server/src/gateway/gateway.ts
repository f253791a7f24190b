import { budgetCents, budgetReachedMessage } from '../budget/budget.js';
import { PriceTable } from '../budget/prices.js';
import type { TenantBudgets } from '../budget/tenant-budget.js';
import { createHash } from 'node:crypto';
import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { newId } from '@berth/protocol';
import { Agent, request } from 'undici';
import type { Logger } from '../logger.js';
import type { GatewayObserver, ModelRequestProbe } from '../observability/observer.js';
import { DEFAULT_TENANT, type Store } from '../store/store.js';
import { OTLP_PATHS, type OtlpRelay } from './otlp-relay.js';
import { SseUsageTap, usageFromJson, type ObservedUsage } from './usage.js';

/** Where model requests really go, and the credential that only berthd holds. */
export interface Upstream {
  /** Base URL without a trailing slash, e.g. https://api.anthropic.com. */
  url: string;
  apiKey: string;
}

/** Largest request body a sandbox may send to the model. */
const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Headers passed upstream; everything else (notably the sandbox's key) is dropped. */
const FORWARD_HEADERS = [
  'content-type',
  'accept',
  'anthropic-version',
  'anthropic-beta',
  'user-agent',
  'x-claude-code-session-id',
];
const ROUTES = new Set(['/v1/messages', '/v1/messages/count_tokens']);

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The model gateway. Each sandbox gets its own listener on a unix socket (its only way to the model); requests
 * must carry a per-session token, which is swapped for the real credential on the way out. Replies stream back
 * untouched while their usage is read and written to the ledger.
 */
export class ModelGateway {
  private readonly dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 64 });

  constructor(
    private readonly upstream: Upstream,
    private readonly store: Store,
    private readonly logger: Logger,
    /** Told about every request (metrics, traces). */
    private readonly observer?: GatewayObserver,
    /** Relays the CLI's OpenTelemetry exports to berthd's collector (`--otel-cli`); absent, they are refused. */
    private readonly otlp?: OtlpRelay,
    /** Prices budgets are enforced with (the built-in list prices unless the composition root passes its table). */
    private readonly prices: PriceTable = new PriceTable(),
    /** Per-tenant monthly budgets (absent: only session budgets are enforced). */
    private readonly tenantBudgets?: TenantBudgets,
  ) {}

  /** Starts a listener for one sandbox; `sessionFor` maps a token hash to the session it belongs to. */
  async listen(path: string, sessionFor: (tokenHash: string) => string | undefined): Promise<Server> {
    await rm(path, { force: true });
    const server = createServer((req, res) => {
      const probe: { current?: ModelRequestProbe } = {};
      this.handle(req, res, sessionFor, probe).catch((err: unknown) => {
        probe.current?.end({ status: 502, failed: true });
        this.logger.error({ err }, 'gateway request failed');
        if (!res.headersSent) reply(res, 502, 'api_error', 'The model gateway could not complete the request.');
        else res.destroy();
      });
    });
    // Never close an idle keep-alive connection first: the CLI reuses its pooled connection when the next turn
    // comes, and a request written as the server's idle timer (Node's default keepAliveTimeout, 5 s: closed at ~6 s) closes that connection fails
    // with ECONNRESET (seen under load). The client closes its idle connections; stopping the session closes the rest.
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o666);
    return server;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
    await this.otlp?.close();
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    sessionFor: (tokenHash: string) => string | undefined,
    probe: { current?: ModelRequestProbe },
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if ((req.method === 'HEAD' || req.method === 'GET') && url.pathname === '/api/hello') {
      res.writeHead(200).end();
      return;
    }
    const token = headerToken(req);
    const sessionId = token ? sessionFor(hashToken(token)) : undefined;
    if (!sessionId) {
      this.observer?.modelRequestRejected('unauthenticated');
      reply(res, 401, 'authentication_error', 'Unknown session token. Only the session runner may call the gateway.');
      return;
    }
    if (this.otlp && req.method === 'POST' && OTLP_PATHS.has(url.pathname)) {
      await this.relayTelemetry(this.otlp, req, res, url.pathname, sessionId);
      return;
    }
    if (req.method !== 'POST' || !ROUTES.has(url.pathname)) {
      this.observer?.modelRequestRejected('bad_route');
      reply(res, 404, 'not_found_error', `The gateway serves POST /v1/messages and /v1/messages/count_tokens only.`);
      return;
    }
    const body = await readBody(req);
    if (!body) {
      this.observer?.modelRequestRejected('too_large');
      reply(res, 413, 'request_too_large', `Model requests are limited to ${MAX_REQUEST_BYTES} bytes.`);
      return;
    }
    if (isMessagesPath(url.pathname)) {
      const refusal = await this.budgetRefusal(sessionId);
      if (refusal) {
        this.observer?.modelRequestRejected('budget');
        reply(res, 400, 'invalid_request_error', refusal);
        return;
      }
    }
    const started = Date.now();
    probe.current = this.observer?.modelRequest(sessionId, isMessagesPath(url.pathname) ? 'messages' : 'count_tokens');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const headers: Record<string, string> = { 'x-api-key': this.upstream.apiKey };
    for (const h of FORWARD_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const up = await request(this.upstream.url + url.pathname + url.search, {
      method: 'POST',
      headers,
      body,
      dispatcher: this.dispatcher,
      signal: abort.signal,
    });
    const type = String(up.headers['content-type'] ?? 'application/json');
    const out: Record<string, string> = { 'content-type': type };
    for (const h of ['request-id', 'retry-after', 'x-should-retry']) {
      const v = up.headers[h];
      if (typeof v === 'string') out[h] = v;
    }
    res.writeHead(up.statusCode, out);
    const isMessages = url.pathname === '/v1/messages';
    const tap = type.includes('text/event-stream') ? new SseUsageTap() : undefined;
    const jsonParts: Buffer[] = [];
    let failed = false;
    try {
      for await (const chunk of up.body) {
        const buf = chunk as Buffer;
        if (tap) tap.push(buf);
        else if (isMessages && up.statusCode < 300) jsonParts.push(buf);
        if (!res.write(buf)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    } catch (err) {
      // The sandbox hung up mid-reply (an interrupt does that): expected, not a gateway failure.
      failed = !abort.signal.aborted;
      if (failed) throw err;
      this.logger.debug({ sessionId }, 'model reply cut short by the client');
    } finally {
      const usage = isMessages ? currentUsage(tap, jsonParts) : undefined;
      probe.current?.end({ status: failed ? 502 : up.statusCode, usage, failed });
      // Tokens already spent are recorded even when the reply was cut short, so aborting cannot hide usage.
      if (usage) {
        await this.record(sessionId, up.statusCode, usage, Date.now() - started).catch((err: unknown) =>
          this.logger.error({ err, sessionId }, 'could not record model usage'),
        );
      }
    }
  }

  /**
   * The session stops issuing model requests once its list cost reached its budget (the reference's rule): the
   * refusal text carries BUDGET_REACHED_MARKER, which the runner maps to `stop_reason: budget_reached`. So does
   * a session whose tenant's monthly budget is spent.
   */
  private async budgetRefusal(sessionId: string): Promise<string | undefined> {
    const session = await this.store.getSession(sessionId);
    const cap = budgetCents(session?.budget);
    if (cap !== undefined) {
      const spent = this.prices.tokenCostCents((await this.store.sessionUsage(sessionId)).by_model);
      if (spent >= cap) return budgetReachedMessage(spent, cap);
    }
    return this.tenantBudgets?.refusal(session?.tenant_id);
  }

  /** A telemetry export from the session's CLI: relayed, never counted as a model request. */
  private async relayTelemetry(
    otlp: OtlpRelay,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    sessionId: string,
  ): Promise<void> {
    const body = await readBody(req);
    if (!body) {
      reply(res, 413, 'request_too_large', `Telemetry exports are limited to ${MAX_REQUEST_BYTES} bytes.`);
      return;
    }
    try {
      await otlp.relay(path, req.headers['content-type'], body, res);
    } catch (err) {
      // A collector that is down must not fill the log with errors, nor fail the agent: the export is dropped.
      this.logger.warn({ err, sessionId, path }, 'relaying a telemetry export to the OTLP collector failed');
      if (!res.headersSent) reply(res, 502, 'api_error', 'The OTLP collector could not be reached.');
    }
  }

  /** Writes the ledger row of one reply; a message id already recorded (a re-sent reply) is not counted again. */
  private async record(sessionId: string, status: number, u: ObservedUsage, latencyMs: number): Promise<void> {
    const session = await this.store.getSession(sessionId);
    const fresh = await this.store.recordModelRequest({
      id: newId('modelRequest'),
      session_id: sessionId,
      // A session deleted while its request was in flight leaves its ids unknown; the row still counts.
      agent_id: session?.agent_id ?? '',
      environment_id: session?.environment_id ?? '',
      tenant_id: session?.tenant_id ?? DEFAULT_TENANT,
      // Failed requests have no message id; give each its own so the ledger keeps one row per request.
      message_id: u.messageId ?? newId('modelRequest'),
      model: u.model,
      status,
      input_tokens: u.input_tokens,
      output_tokens: u.output_tokens,
      cache_read_input_tokens: u.cache_read_input_tokens,
      cache_creation_input_tokens: u.cache_creation_input_tokens,
      latency_ms: latencyMs,
      created_at: new Date().toISOString(),
    });
    if (!fresh)
      this.logger.info({ sessionId, messageId: u.messageId }, 'model reply already in the ledger; not counted again');
  }
}

function isMessagesPath(path: string): boolean {
  return path === '/v1/messages';
}

/** The usage seen so far: from the SSE tap, or the buffered JSON reply. */
function currentUsage(tap: SseUsageTap | undefined, jsonParts: Buffer[]): ObservedUsage {
  return tap ? tap.usage : usageFromJson(Buffer.concat(jsonParts).toString('utf8'));
}

function headerToken(req: IncomingMessage): string | undefined {
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key) return key;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return undefined;
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

function reply(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ type: 'error', error: { type, message }, request_id: null }));
}
