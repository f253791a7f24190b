import type { RawRequest, RawResponse } from './raw-http.js';

/** What was wrong with one answer, or undefined when it is acceptable. */
export function problemWith(req: RawRequest, res: RawResponse): string | undefined {
  if (res.status >= 500 || res.status < 100) return `status ${res.status}: ${res.body.slice(0, 300)}`;
  if (res.status < 400 || req.method === 'HEAD') return undefined;
  if (!res.contentType.startsWith('application/json')) return `${res.status} with content-type '${res.contentType}'`;
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `${res.status} with a body that is not JSON: ${res.body.slice(0, 200)}`;
  }
  const b = body as { type?: unknown; error?: { type?: unknown; message?: unknown } };
  if (b.type !== 'error' || typeof b.error?.type !== 'string' || !b.error.type) {
    return `${res.status} not in the Anthropic error shape: ${res.body.slice(0, 200)}`;
  }
  if (typeof b.error.message !== 'string' || b.error.message.trim() === '') {
    return `${res.status} with an empty error message: ${res.body.slice(0, 200)}`;
  }
  return undefined;
}

/** Parses fastify's `printRoutes({ commonPrefix: false })` tree into `METHOD /path` entries. */
export function parseRouteTree(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const at = line.search(/[└├]── /);
    if (at < 0) continue;
    const depth = at / 4;
    const m = /^(\S*)(?: \(([^)]*)\))?/.exec(line.slice(at + 4));
    if (!m) continue;
    const path = (depth > 0 ? stack[depth - 1]! : '') + m[1]!;
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (m[2] ?? '').split(',').map((s) => s.trim())) {
      if (method && method !== 'HEAD') out.push(`${method} ${path}`);
    }
  }
  return out;
}
