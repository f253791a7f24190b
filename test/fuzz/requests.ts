import fc from 'fast-check';
import { idList, jsonBody, type Ids } from './bodies.js';
import { multipartBody, octetBody, type TypedBody } from './multipart.js';
import type { RawRequest } from './raw-http.js';
import { ROUTES, type IdKind, type Route } from './routes.js';
import { evilKeys, hostileString, oddStrings, traversal } from './values.js';

const ID_PREFIX: Record<IdKind, string> = {
  agent: 'agent_',
  env: 'env_',
  session: 'sesn_',
  vault: 'vlt_',
  cred: 'vcrd_',
  file: 'file_',
  resource: 'sesrsc_',
  trigger: 'trg_',
  webhook: 'whk_',
  delivery: 'whmsg_',
  tenant: 'tenant_',
  key: 'key_',
};

/** A path id: the real one, a real one of another kind, an unknown one with the right prefix, or hostile text. */
function idArb(kind: IdKind, ids: Ids, destructive: boolean): fc.Arbitrary<string> {
  const others = idList(ids).filter((v) => v !== ids[kind]);
  return fc.oneof(
    { arbitrary: fc.constant(ids[kind]), weight: destructive ? 0 : 10 },
    { arbitrary: fc.constantFrom(...others), weight: 2 },
    { arbitrary: fc.stringMatching(/^[0-9A-Za-z]{0,40}$/).map((s) => ID_PREFIX[kind] + s), weight: 2 },
    { arbitrary: fc.constantFrom(...traversal, ...evilKeys, ...oddStrings), weight: 2 },
    { arbitrary: hostileString.map((s) => s.slice(0, 400)), weight: 1 },
    { arbitrary: fc.integer({ min: 250, max: 300 }).map((n) => ID_PREFIX[kind] + 'a'.repeat(n)), weight: 1 },
  );
}

/** node:http refuses path bytes outside 0x21-0xff; such segments are always percent-encoded. */
const RAW_OK = /^[\u0021-\u00ff]*$/;

function encodeSegment(s: string, raw: boolean): string {
  if (raw && RAW_OK.test(s) && !s.includes('?') && !s.includes('#')) return s;
  try {
    return encodeURIComponent(s);
  } catch {
    // Lone surrogates: send the escaped UTF-16 units as bytes the server must reject.
    return [...s].map((c) => `%${(c.charCodeAt(0) & 0xff).toString(16).padStart(2, '0')}`).join('');
  }
}

const queryValue = fc.oneof(
  fc.constantFrom('-1', '0', '1', '20', '1000', '1001', '1e3', '1.5', 'NaN', 'Infinity', '', 'true', 'false', 'yes'),
  fc.constantFrom('asc', 'desc', 'idle', 'allowed', 'denied', 'agent_x', '2026-01-01T00:00:00Z', '2026-13-45'),
  fc.constantFrom('tool_use', 'text', '/', '.', '..', 'a/b', 'etc/passwd', '%00', 'x'.repeat(5000)),
  hostileString.map((s) => s.slice(0, 5000)),
);

/** A query string: known keys with bad values, repeated keys (arrays), bracket keys, evil keys, raw bytes. */
function queryArb(route: Route): fc.Arbitrary<string> {
  const keys = [...(route.query ?? []), 'unknown', '__proto__', 'constructor[prototype][x]', 'limit[]', 'a[b][c]'];
  return fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom(...keys), queryValue, fc.boolean()), { maxLength: 4 }),
      fc.constantFrom('', '', '', '&', '&&=', '=x', '%', '%zz', '?'),
    )
    .map(([pairs, junk]) => {
      const parts = pairs.map(([k, v, raw]) => `${encodeSegment(k, raw)}=${encodeSegment(v, raw)}`);
      const q = parts.join('&') + junk;
      return q ? `?${q}` : '';
    });
}

const GOOD_KEY = 'bsk_test_admin_key_0123456789';

/** Authentication headers: mostly the right key, otherwise missing, wrong, or garbled. */
const authArb: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { arbitrary: fc.constant({ 'x-api-key': GOOD_KEY }), weight: 12 },
  { arbitrary: fc.constant({ authorization: `Bearer ${GOOD_KEY}` }), weight: 2 },
  {
    arbitrary: fc.constantFrom<Record<string, string>>(
      {},
      { 'x-api-key': '' },
      { 'x-api-key': 'bsk_wrong' },
      { 'x-api-key': GOOD_KEY + 'x' },
      { 'x-api-key': GOOD_KEY.slice(0, -1) },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${GOOD_KEY}` },
      { authorization: `bearer ${GOOD_KEY}` },
      { authorization: 'Bearer \u00ff\u00fe' },
      { 'x-api-key': 'x'.repeat(8000) },
    ),
    weight: 2,
  },
);

const contentTypes = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'application/octet-stream',
  'application/json, text/plain',
  '*/*',
  '',
  'garbage',
];

/** The body and content-type for a route; sometimes the content-type is swapped for a wrong one. */
function bodyArb(route: Route, ids: Ids): fc.Arbitrary<TypedBody> {
  const base: fc.Arbitrary<TypedBody> =
    route.body === 'multipart'
      ? multipartBody
      : route.body === 'octet'
        ? octetBody
        : route.body === 'none'
          ? fc.oneof(
              { arbitrary: fc.constant<TypedBody>({}), weight: 4 },
              {
                arbitrary: jsonBody('vault', ids).map((body) => ({ contentType: 'application/json', body })),
                weight: 1,
              },
            )
          : jsonBody(route.body, ids).map((body) => ({ contentType: 'application/json', body }));
  const swap = fc.oneof(
    { arbitrary: fc.constant(null), weight: 8 },
    { arbitrary: fc.constantFrom(...contentTypes), weight: 1 },
  );
  return fc.tuple(base, swap).map(([b, ct]) => ({
    body: b.body,
    contentType: ct === null ? b.contentType : ct || undefined,
  }));
}

/** A method the route does not take, now and then (405/404 paths). */
const methodArb = (route: Route) =>
  fc.oneof(
    { arbitrary: fc.constant(route.method), weight: 20 },
    // Never DELETE: on a read route with a real id it would delete the resource the rest of the run needs.
    { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'), weight: 1 },
  );

/** One fuzz request for one route: path ids, query, headers and body all generated. */
export function requestArb(route: Route, ids: Ids): fc.Arbitrary<RawRequest & { route: string }> {
  const kinds = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1] as IdKind);
  return fc
    .record({
      idVals: fc.tuple(...kinds.map((k) => fc.tuple(idArb(k, ids, route.destructive === true), fc.boolean()))),
      query: route.query ? queryArb(route) : fc.oneof(fc.constant(''), queryArb(route)),
      auth: authArb,
      body: bodyArb(route, ids),
      method: methodArb(route),
      chunked: fc.boolean(),
      trailing: fc.oneof(
        { arbitrary: fc.constant(''), weight: 12 },
        { arbitrary: fc.constantFrom('/', '//', '/.', '/..', '%2f', '/%00', '/%2e%2e'), weight: 1 },
      ),
    })
    .map(({ idVals, query, auth, body, method, trailing, chunked }) => {
      let i = 0;
      const path = route.path.replace(/:(\w+)/g, () => {
        const [v, raw] = idVals[i++]!;
        return encodeSegment(v, raw);
      });
      const headers: Record<string, string> = { ...auth };
      if (body.contentType !== undefined) headers['content-type'] = body.contentType;
      const sendBody = method === 'GET' || method === 'HEAD' ? undefined : body.body;
      // Without content-length node sends the body chunked (transfer-encoding: chunked).
      if (sendBody !== undefined && !chunked) headers['content-length'] = String(sendBody.length);
      return {
        route: `${route.method} ${route.path}`,
        method,
        path: path + trailing + query,
        headers,
        body: sendBody,
        stream: route.stream,
      };
    });
}

/** The whole request space: every route, equally likely. */
export function anyRequestArb(ids: Ids): fc.Arbitrary<RawRequest & { route: string }> {
  return fc.oneof(...ROUTES.map((r) => requestArb(r, ids)));
}
