import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** The proxy's wire helpers: parsing CONNECT targets, reading bodies, and refusals that name their rule. */

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `host:port` of a CONNECT request (`[v6]:port` too); null when malformed. */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/]+):(\d{1,5})$/.exec(authority);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  501: 'Not Implemented',
  502: 'Bad Gateway',
};

function refusalBody(rule: string, reason: string): string {
  return `Berth egress proxy: refused by ${rule}: ${reason}\n`;
}

/** Header-safe text: what a rule or reason may contain is validated, but a header must never break. */
function headerValue(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 512);
}

/** Answers a raw socket (CONNECT, upgrade) with a refusal and closes it. */
export function refuse(client: Duplex, status: number, rule: string, reason: string): void {
  const body = refusalBody(rule, reason);
  client.end(
    // The reason phrase names the rule too: TLS clients never show a CONNECT refusal's body (curl -v shows this line).
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'} (Berth egress: ${headerValue(rule)})\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n` +
      `X-Berth-Egress-Rule: ${headerValue(rule)}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function sendRefusal(res: ServerResponse, status: number, rule: string, reason: string): void {
  const body = refusalBody(rule, reason);
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-berth-egress-rule': headerValue(rule),
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}
