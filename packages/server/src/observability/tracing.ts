import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logger.js';

/** Where spans go: an OTLP/HTTP collector (JSON encoding). */
export interface TracingConfig {
  /** OTLP base URL, e.g. `http://collector:4318` (spans are POSTed to `<endpoint>/v1/traces`). */
  endpoint: string;
  headers: Record<string, string>;
  serviceName: string;
}

/** Pending parents of turns not started yet: a session rarely has more than one message queued. */
const MAX_PENDING = 16;

interface SessionTrace {
  /** Contexts of the API requests that sent messages still waiting for their turn, oldest first. */
  pending: Context[];
  turn: Span | undefined;
  turnCtx: Context | undefined;
}

/**
 * Opt-in OpenTelemetry tracing: API request → session turn → model request. The tracer provider is berthd's own
 * (never registered as the global one) and contexts are passed explicitly; the API request's context reaches the
 * session service through an AsyncLocalStorage owned by this instance. A turn is parented by the request that sent
 * its message, and model requests by the turn running when they arrive. Disabled (every method a no-op) when no
 * endpoint is configured.
 */
export class Tracing {
  private readonly provider: BasicTracerProvider | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly als = new AsyncLocalStorage<Context>();
  private readonly sessions = new Map<string, SessionTrace>();

  constructor(config: TracingConfig | undefined, logger: Logger) {
    if (!config) return;
    const exporter = new OTLPTraceExporter({
      url: `${config.endpoint.replace(/\/+$/, '')}/v1/traces`,
      headers: config.headers,
    });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 2000 })],
    });
    this.tracer = this.provider.getTracer('berthd');
    logger.info({ endpoint: config.endpoint }, 'tracing: exporting spans over OTLP/HTTP');
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /**
   * Starts the span of an API request (parented by a valid W3C `traceparent` header) and runs `next` inside its
   * context. Returns the span, or undefined when tracing is off.
   */
  startRequest(method: string, route: string, traceparent: string | undefined, next: () => void): Span | undefined {
    if (!this.tracer) {
      next();
      return undefined;
    }
    const span = this.tracer.startSpan(
      `${method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route } },
      parentFrom(traceparent),
    );
    this.als.run(trace.setSpan(ROOT_CONTEXT, span), next);
    return span;
  }

  /** Ends a request span with its status code (5xx marks it failed). */
  endRequest(span: Span | undefined, status: number, requestId: string): void {
    if (!span) return;
    span.setAttributes({ 'http.response.status_code': status, 'berth.request_id': requestId });
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  /** A user message was accepted: the API request in progress (if any) parents the turn it will start. */
  messageSent(sessionId: string): void {
    if (!this.tracer) return;
    const t = this.session(sessionId);
    t.pending.push(this.als.getStore() ?? ROOT_CONTEXT);
    if (t.pending.length > MAX_PENDING) t.pending.shift();
  }

  /** The session went running (or a model request came first): starts its turn span if none is open. */
  turnStarted(sessionId: string): Context | undefined {
    if (!this.tracer) return undefined;
    const t = this.session(sessionId);
    if (t.turnCtx) return t.turnCtx;
    const parent = t.pending.shift() ?? ROOT_CONTEXT;
    t.turn = this.tracer.startSpan(
      'session.turn',
      { kind: SpanKind.INTERNAL, attributes: { 'berth.session_id': sessionId } },
      parent,
    );
    t.turnCtx = trace.setSpan(ROOT_CONTEXT, t.turn);
    return t.turnCtx;
  }

  /** The turn ended (idle, terminated or stopped). */
  turnEnded(sessionId: string, status: string): void {
    const t = this.sessions.get(sessionId);
    if (!t?.turn) return;
    t.turn.setAttribute('berth.session_status', status);
    if (status === 'terminated') t.turn.setStatus({ code: SpanStatusCode.ERROR, message: 'session terminated' });
    t.turn.end();
    t.turn = undefined;
    t.turnCtx = undefined;
  }

  /** Forgets a stopped session (ending its open turn). */
  sessionStopped(sessionId: string): void {
    this.turnEnded(sessionId, 'stopped');
    this.sessions.delete(sessionId);
  }

  /** Starts a model request span under the session's turn (a session that is not in a turn gets one). */
  startModelRequest(sessionId: string, route: string): Span | undefined {
    if (!this.tracer) return undefined;
    const parent = this.sessions.get(sessionId)?.turnCtx ?? this.turnStarted(sessionId);
    return this.tracer.startSpan(
      `model ${route}`,
      { kind: SpanKind.CLIENT, attributes: { 'berth.session_id': sessionId, 'berth.model_route': route } },
      parent,
    );
  }

  /** Flushes and stops the exporter (at shutdown). */
  async close(): Promise<void> {
    for (const id of [...this.sessions.keys()]) this.sessionStopped(id);
    await this.provider?.shutdown();
  }

  private session(sessionId: string): SessionTrace {
    let t = this.sessions.get(sessionId);
    if (!t) {
      t = { pending: [], turn: undefined, turnCtx: undefined };
      this.sessions.set(sessionId, t);
    }
    return t;
  }
}

/** The remote parent a W3C `traceparent` header names, or the root context when it is absent or malformed. */
export function parentFrom(header: string | undefined): Context {
  const m = header ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header.trim()) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return ROOT_CONTEXT;
  const flags = parseInt(m[3]!, 16) & TraceFlags.SAMPLED;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: m[1]!, spanId: m[2]!, traceFlags: flags, isRemote: true });
}
