import { SpanStatusCode } from '@opentelemetry/api';
import type { Logger } from '../logger.js';
import { BerthMetrics, type UsageReader } from './metrics.js';
import type {
  EgressObserver,
  GatewayObserver,
  ModelRequestProbe,
  ModelRoute,
  ObservedStatus,
  SandboxObserver,
  SessionObserver,
} from './observer.js';
import { Tracing, type TracingConfig } from './tracing.js';

export type * from './observer.js';
export { BerthMetrics } from './metrics.js';
export { Tracing, parentFrom, type TracingConfig } from './tracing.js';

/**
 * berthd's observability: one object behind every observer hook, fanning each report out to the Prometheus
 * metrics and (when configured) the tracer. Built once in the composition root.
 */
export class Observability implements GatewayObserver, SandboxObserver, SessionObserver, EgressObserver {
  readonly metrics: BerthMetrics;
  readonly tracing: Tracing;

  constructor(opts: { readUsage: UsageReader; tracing: TracingConfig | undefined; logger: Logger }) {
    this.metrics = new BerthMetrics(opts.readUsage, opts.logger);
    this.tracing = new Tracing(opts.tracing, opts.logger);
  }

  modelRequest(sessionId: string, route: ModelRoute): ModelRequestProbe {
    const started = performance.now();
    const span = this.tracing.startModelRequest(sessionId, route);
    let ended = false;
    return {
      end: (o) => {
        if (ended) return;
        ended = true;
        this.metrics.modelRequestDone(route, (performance.now() - started) / 1000, o);
        if (!span) return;
        span.setAttribute('http.response.status_code', o.status);
        if (o.usage) {
          if (o.usage.model) span.setAttribute('gen_ai.response.model', o.usage.model);
          span.setAttributes({
            'gen_ai.usage.input_tokens': o.usage.input_tokens,
            'gen_ai.usage.output_tokens': o.usage.output_tokens,
          });
        }
        if (o.failed || o.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  }

  modelRequestRejected(reason: 'unauthenticated' | 'bad_route' | 'too_large' | 'budget'): void {
    this.metrics.modelRequestRejected(reason);
  }

  sandboxCreated(driver: string, seconds: number, ok: boolean): void {
    this.metrics.sandboxCreated(driver, seconds, ok);
  }

  sandboxReady(driver: string, seconds: number): void {
    this.metrics.sandboxReadyAfter(driver, seconds);
  }

  sessionStarted(sessionId: string, sandboxId: string, driver: string): void {
    this.metrics.sessionStarted(sessionId, sandboxId, driver);
  }

  agentReady(sessionId: string): void {
    this.metrics.agentReady(sessionId);
  }

  messageSent(sessionId: string): void {
    this.tracing.messageSent(sessionId);
  }

  statusChanged(sessionId: string, status: ObservedStatus): void {
    this.metrics.statusChanged(sessionId, status);
    if (status === 'running') this.tracing.turnStarted(sessionId);
    else this.tracing.turnEnded(sessionId, status);
  }

  async sessionStopping(sessionId: string): Promise<void> {
    this.tracing.sessionStopped(sessionId);
    await this.metrics.sessionStopping(sessionId);
  }

  egressDecision(decision: 'allowed' | 'denied', kind: 'http' | 'connect'): void {
    this.metrics.egressDecision(decision, kind);
  }

  async close(): Promise<void> {
    await this.tracing.close();
  }
}
