import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One span as an OTLP/HTTP JSON export carries it (ids hex-encoded). */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number } | undefined;
  service: string | undefined;
}

/** A real OTLP/HTTP receiver on loopback: decodes JSON trace exports (POST /v1/traces) and keeps every request. */
export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Every request (path and content type), traces or not (the CLI also exports metrics and logs). */
  requests: Array<{ path: string; contentType: string; headers: Record<string, string | undefined>; body: string }>;
  close(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type Attr = { key: string; value: AnyValue };

function attrs(list: Attr[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const a of list ?? []) {
    const v = a.value;
    out[a.key] =
      v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ''));
  }
  return out;
}

export async function startOtlpReceiver(host = '127.0.0.1'): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: OtlpReceiver['requests'] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(parts);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const body = raw.toString('utf8');
      const path = (req.url ?? '/').split('?')[0]!;
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      requests.push({ path, contentType: String(req.headers['content-type'] ?? ''), headers, body });
      if (path === '/v1/traces' && String(req.headers['content-type']).includes('json')) {
        const doc = JSON.parse(body) as {
          resourceSpans?: Array<{
            resource?: { attributes?: Attr[] };
            scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }>;
          }>;
        };
        for (const rs of doc.resourceSpans ?? []) {
          const service = attrs(rs.resource?.attributes)['service.name'];
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? [])
              spans.push({
                traceId: s.traceId as string,
                spanId: s.spanId as string,
                parentSpanId: (s.parentSpanId as string | undefined) || undefined,
                name: s.name as string,
                kind: s.kind as number,
                attributes: attrs(s.attributes as Attr[] | undefined),
                status: s.status as { code?: number } | undefined,
                service: typeof service === 'string' ? service : undefined,
              });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    spans,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
