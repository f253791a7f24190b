import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, targetProblem } from './target.js';

/** The outcome of one delivery attempt. */
export interface AttemptResult {
  ok: boolean;
  /** The response's HTTP status; null when no response came. */
  status: number | null;
  /** Why the attempt failed, for the delivery log; null on success. */
  error: string | null;
  /** The attempt was cut short by `signal` (berthd stopping): it does not count. */
  aborted?: boolean;
}

export interface SendOptions {
  timeoutMs: number;
  allowPrivate: boolean;
  signal?: AbortSignal;
}

/** How much of a failed response's body goes into the delivery log. */
const ERROR_BODY_CHARS = 200;
const USER_AGENT = 'Berth-Webhooks/1';
// eslint-disable-next-line no-control-regex -- control characters are what it matches
const CONTROL = /[\x00-\x1f\x7f]+/g;

/**
 * POSTs one signed message. A 2xx answer is success; anything else, a redirect included (redirects are never
 * followed: the receiver must be addressed directly), a timeout (the whole attempt, connect to last byte, within
 * `timeoutMs`) or a refused target is a failure that says why.
 */
export function sendAttempt(
  url: string,
  headers: Record<string, string>,
  body: string,
  opts: SendOptions,
): Promise<AttemptResult> {
  const problem = targetProblem(url, opts.allowPrivate);
  if (problem) return Promise.resolve({ ok: false, status: null, error: `target refused: the URL ${problem}` });
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = mod.request(
      u,
      {
        method: 'POST',
        agent: false,
        // IP literals never go through lookup; targetProblem checked them above.
        ...(isIP(u.hostname.replace(/^\[|\]$/g, '')) ? {} : { lookup: guardedLookup(opts.allowPrivate) }),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': USER_AGENT,
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < ERROR_BODY_CHARS) text += chunk;
        });
        res.on('error', () => undefined);
        res.on('end', () => done(outcome(status, res.headers.location, text)));
        // A 2xx needs no body: do not let a slow receiver hold the attempt open.
        if (status >= 200 && status < 300) {
          done(outcome(status, undefined, ''));
          res.destroy();
        }
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, status: null, error: `timed out after ${opts.timeoutMs} ms` });
    }, opts.timeoutMs);
    const abort = () => {
      req.destroy();
      done({ ok: false, status: null, error: 'aborted: berthd is stopping', aborted: true });
    };
    if (opts.signal?.aborted) abort();
    opts.signal?.addEventListener('abort', abort, { once: true });
    req.on('close', () => opts.signal?.removeEventListener('abort', abort));
    req.on('error', (err: NodeJS.ErrnoException) => {
      done({ ok: false, status: null, error: err.code ? `${err.code}: ${err.message}` : err.message });
    });
    req.end(body);
  });
}

function outcome(status: number, location: string | undefined, body: string): AttemptResult {
  if (status >= 200 && status < 300) return { ok: true, status, error: null };
  if (status >= 300 && status < 400) {
    return { ok: false, status, error: `redirect to ${location ?? '(no location)'} not followed` };
  }
  const snippet = body.slice(0, ERROR_BODY_CHARS).replace(CONTROL, ' ').trim();
  return { ok: false, status, error: `HTTP ${status}${snippet ? `: ${snippet}` : ''}` };
}
