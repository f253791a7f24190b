import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.js';
import { parseHostLabel, type Preview, type PreviewRegistry } from './registry.js';

/** The header, query parameter and cookie a preview token may arrive in; none of them reaches the sandbox. */
export const TOKEN_HEADER = 'x-berth-preview-token';
export const TOKEN_QUERY = 'berth_token';
export const TOKEN_COOKIE = 'berth_preview';

/** Where one preview request goes, after its token was checked. */
export interface PreviewAccess {
  preview: Preview;
  /** The request target to forward: the original, without `berth_token`. */
  path: string;
  /** True when the token came in the query: a browser navigation then gets a cookie and a redirect. */
  fromQuery: boolean;
  token: string;
}

/** The cookie values of a request (first value wins). */
export function cookiesOf(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** The `host` header's name without a port, lower case. */
function hostName(req: IncomingMessage): string {
  const h = (req.headers.host ?? '').toLowerCase();
  return h.startsWith('[') ? h : h.replace(/:\d+$/, '');
}

/**
 * Decides one request to the preview listener: which preview its host names, and whether it carries that
 * preview's token (header, `?berth_token=` or the host-only cookie). Throws an {@link ApiError} otherwise:
 * 404 for a host that is no preview, 401 without a token, 403 with a token that is not this preview's.
 */
export function authorize(req: IncomingMessage, domain: string, registry: PreviewRegistry): PreviewAccess {
  const host = hostName(req);
  const label = host.endsWith(`.${domain}`) ? host.slice(0, -domain.length - 1) : '';
  const target = parseHostLabel(label);
  const rawUrl = req.url ?? '/';
  if (!target || !rawUrl.startsWith('/')) {
    throw new ApiError(
      'not_found',
      `No preview is served at ${host || '(no host)'}. Use the url returned by POST /v1/berth/sessions/{id}/previews.`,
    );
  }
  const url = new URL(rawUrl, 'http://preview.invalid');
  const fromQuery = url.searchParams.get(TOKEN_QUERY);
  url.searchParams.delete(TOKEN_QUERY);
  const header = req.headers[TOKEN_HEADER];
  const token =
    fromQuery ?? (typeof header === 'string' && header ? header : undefined) ?? cookiesOf(req).get(TOKEN_COOKIE);
  if (!token) {
    throw new ApiError(
      'unauthorized',
      `This preview needs its access token: open the preview's access_url once (it sets a cookie), or send the token in the ${TOKEN_HEADER} header.`,
    );
  }
  const preview = registry.at(target.sessionId, target.port);
  if (!preview || !registry.matches(preview, token)) {
    throw new ApiError(
      'preview_forbidden',
      "This token does not open this preview (it was revoked, replaced, or belongs to another preview). Create a preview for this session's port to get a valid token.",
    );
  }
  const path = fromQuery === null ? rawUrl : `${url.pathname}${url.search}`;
  return { preview, path, fromQuery: fromQuery !== null, token };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The request headers to forward into the sandbox: without hop-by-hop headers (unless `upgrade`), the token
 * header, and the preview cookie (other cookies stay). Raw order and case are kept.
 */
export function forwardHeaders(req: IncomingMessage, upgrade: boolean): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    let value = raw[i + 1]!;
    if (lower === TOKEN_HEADER) continue;
    if (!upgrade && HOP_BY_HOP.has(lower)) continue;
    if (lower === 'cookie') {
      value = value
        .split(';')
        .filter((c) => c.split('=')[0]?.trim() !== TOKEN_COOKIE)
        .join(';')
        .trim();
      if (!value) continue;
    }
    out.push([name, value]);
  }
  return out;
}

/** Response headers to pass back to the client (hop-by-hop ones dropped; node re-frames the body). */
export function responseHeaders(raw: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    const prev = out[name];
    const v = raw[i + 1]!;
    out[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
