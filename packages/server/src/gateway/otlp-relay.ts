import type { ServerResponse } from 'node:http';
import { Agent, request } from 'undici';

/** The OTLP/HTTP paths the relay accepts, one per signal. */
export const OTLP_PATHS: ReadonlySet<string> = new Set(['/v1/traces', '/v1/metrics', '/v1/logs']);

/** Content types OTLP/HTTP uses (JSON and protobuf). */
const TYPES = new Set(['application/json', 'application/x-protobuf']);

/**
 * Relays a sandbox's OpenTelemetry exports (the Claude CLI's metrics and log events, `--otel-cli`) to berthd's
 * collector. The CLI's OTLP exporter ignores HTTP(S)_PROXY (measured), so it cannot take the egress path; it posts
 * to the model forwarder instead, authenticated by the session token like a model request, and berthd adds the
 * collector's headers (`--otlp-headers`) on the way out: the sandbox never holds the collector's credential.
 */
export class OtlpRelay {
  private readonly dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: 8 });

  constructor(
    /** Collector base URL without a trailing slash. */
    private readonly endpoint: string,
    private readonly headers: Record<string, string>,
  ) {}

  /** Forwards one export and answers the sandbox with the collector's status. */
  async relay(path: string, contentType: string | undefined, body: Buffer, res: ServerResponse): Promise<void> {
    const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
    if (!OTLP_PATHS.has(path) || !TYPES.has(type)) {
      res.writeHead(415, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'OTLP exports must be application/json or application/x-protobuf.' }));
      return;
    }
    const up = await request(this.endpoint + path, {
      method: 'POST',
      headers: { ...this.headers, 'content-type': type },
      body,
      dispatcher: this.dispatcher,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const reply = Buffer.from(await up.body.arrayBuffer());
    res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? type) });
    res.end(reply);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
