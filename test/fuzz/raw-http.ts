import { Agent, request } from 'node:http';

/** One request exactly as the fuzzer wants it on the wire (path already encoded, body as bytes). */
export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** An event stream: a 200 is accepted as soon as its headers arrive, then the connection is dropped. */
  stream?: boolean;
}

export interface RawResponse {
  status: number;
  contentType: string;
  body: string;
}

/** Keep-alive pool shared by all fuzz requests (the concurrency limit is the caller's). */
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/**
 * Sends one request with node:http, which (unlike fetch) does not normalise the path, so `..`, `%2e` and latin-1
 * bytes reach berthd as generated. Rejects on a transport error or when no answer came within `timeoutMs`.
 */
export function sendRaw(base: string, r: RawRequest, timeoutMs: number): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port: Number(port), method: r.method, path: r.path, headers: r.headers, agent },
      (res) => {
        const status = res.statusCode ?? 0;
        const contentType = String(res.headers['content-type'] ?? '');
        if (r.stream && status === 200) {
          clearTimeout(timer);
          req.destroy();
          resolve({ status, contentType, body: '' });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status, contentType, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms: ${r.method} ${r.path.slice(0, 200)}`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(r.body);
  });
}

/** Closes the pooled sockets (after the run). */
export function closeRawPool(): void {
  agent.destroy();
}
