import fc from 'fast-check';
import { berthOverrides } from './settings.js';
import {
  deep,
  evilKeys,
  field,
  hostileString,
  hostileValue,
  obj,
  record,
  toJson,
  traversal,
  type Jv,
} from './values.js';

/** Real ids created before the run, so generated requests reach code behind the 404 checks. */
export interface Ids {
  agent: string;
  env: string;
  session: string;
  vault: string;
  cred: string;
  file: string;
  resource: string;
  webhook: string;
  delivery: string;
  trigger: string;
  tenant: string;
  key: string;
}

/** Every real id, of every kind. */
export function idList(ids: Ids): string[] {
  return [
    ids.agent,
    ids.env,
    ids.session,
    ids.vault,
    ids.cred,
    ids.file,
    ids.resource,
    ids.webhook,
    ids.delivery,
    ids.trigger,
    ids.tenant,
    ids.key,
  ];
}

/** The JSON body shapes the routes take; each gets a plausible-but-mutated generator. */
export type BodyKind =
  | 'agent'
  | 'env'
  | 'session'
  | 'sessionUpdate'
  | 'events'
  | 'vault'
  | 'credential'
  | 'resource'
  | 'webhook'
  | 'rotate'
  | 'trigger'
  | 'preview'
  | 'tenant'
  | 'apiKey'
  | 'keyRotate'
  | 'none';

const str = (...xs: string[]) =>
  fc.oneof({ arbitrary: fc.constantFrom(...xs), weight: 3 }, { arbitrary: hostileString, weight: 1 });
const meta = field(
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...evilKeys), fc.string({ maxLength: 70 })),
        fc.oneof(fc.string(), fc.constant(null)),
      ),
      { maxLength: 20 },
    )
    .map(obj),
);
const version = field(fc.oneof(fc.constant<Jv>(1), fc.integer({ min: -3, max: 5 })));
const mountPath = str('/mnt/session/uploads/x', '/workspace/a', '/tmp/x', ...traversal);
const url = str('https://example.com/mcp', 'http://127.0.0.1:1/', 'file:///etc/passwd', 'javascript:alert(1)');

/** Plausible bodies per kind; the real ids are mixed in so lookups succeed and deeper checks run. */
export function plausibleBody(kind: BodyKind, ids: Ids): fc.Arbitrary<Jv> {
  const anyId = fc.constantFrom<Jv>(...idList(ids));
  switch (kind) {
    case 'preview':
      return record({
        port: field(fc.oneof(fc.constantFrom<Jv>(8080, 0, 1, 65535, 65536, -1, 1.5, '80'), hostileValue)),
      });
    case 'agent':
      return record({
        name: field(str('fuzz-agent')),
        model: field(fc.oneof(str('claude-sonnet-4-5'), record({ id: field(str('claude-sonnet-4-5')) }))),
        system: field(hostileString),
        description: field(hostileString),
        tools: field(
          fc.array(
            record({
              type: field(str('agent_toolset_20260401', 'custom', 'mcp_toolset')),
              name: field(hostileString),
              input_schema: field(hostileValue),
              configs: field(fc.array(record({ name: field(str('bash', 'read')), enabled: field(fc.boolean()) }))),
              mcp_server_name: field(hostileString),
            }),
            { maxLength: 3 },
          ),
        ),
        mcp_servers: field(
          fc.array(record({ type: field(str('url')), name: field(hostileString), url: field(url) }), { maxLength: 2 }),
        ),
        skills: field(fc.array(hostileValue, { maxLength: 2 })),
        metadata: meta,
        version,
      });
    case 'env':
      return record({
        name: field(str('fuzz-env')),
        description: field(hostileString),
        config: field(
          record({
            type: field(str('cloud')),
            networking: field(
              record({
                type: field(str('unrestricted', 'limited')),
                allowed_hosts: field(fc.array(str('example.com', '*', '*.*', '127.0.0.1', '[::1]'), { maxLength: 3 })),
                allow_mcp_servers: field(fc.boolean()),
                allow_package_managers: field(fc.boolean()),
              }),
            ),
            packages: field(hostileValue),
          }),
        ),
        berth: field(berthOverrides),
        metadata: meta,
      });
    case 'session': {
      const common = {
        title: field(hostileString),
        vault_ids: field(fc.array(fc.oneof(fc.constant<Jv>(ids.vault), hostileString), { maxLength: 3 })),
        resources: field(fc.array(resourceBody(ids), { maxLength: 2 })),
        berth: field(berthOverrides),
        metadata: meta,
      };
      return fc.oneof(
        // Anything, but never the real agent.
        record({
          agent: field(
            fc.oneof(str('agent_0000fuzz', ids.env), record({ type: field(str('agent')), id: field(str('agent_x')) })),
          ),
          environment_id: field(fc.oneof(fc.constant<Jv>(ids.env), hostileString)),
          budget: field(hostileValue),
          ...common,
        }),
        // The real (unpriced) agent and environment, so resources, vaults and overrides are checked; the budget (refused
        // for a model without a list price) keeps every one of these from starting a sandbox. The test checks that no
        // session was created.
        record({
          agent: fc.constant<Jv>(ids.agent),
          environment_id: fc.constant<Jv>(ids.env),
          budget: fc.constant<Jv>(
            obj([
              ['type', 'limit'],
              [
                'max_list_cost',
                obj([
                  ['amount', '1'],
                  ['currency', 'USD'],
                ]),
              ],
            ]),
          ),
          ...common,
        }),
      );
    }
    case 'sessionUpdate':
      return record({
        title: field(hostileString),
        metadata: meta,
        vault_ids: field(fc.array(anyId, { maxLength: 2 })),
      });
    case 'events':
      // user.message text is never a string here, so no generated event starts a model turn.
      return record({
        events: field(
          fc.array(
            record({
              type: field(str('user.message', 'user.interrupt', 'user.tool_confirmation', 'user.custom_tool_result')),
              content: field(
                fc.array(
                  record({
                    type: field(str('text', 'image')),
                    text: field(hostileValue.filter((v) => typeof v !== 'string')),
                    source: field(
                      record({
                        type: field(str('url', 'base64', 'file')),
                        url: field(url),
                        file_id: field(anyId),
                        data: field(hostileString),
                      }),
                    ),
                  }),
                  { maxLength: 2 },
                ),
              ),
              tool_use_id: field(str('toolu_01', 'sevt_x')),
              custom_tool_use_id: field(str('toolu_01')),
              result: field(str('allow', 'deny')),
              deny_message: field(hostileString),
            }),
            { maxLength: 3 },
          ),
        ),
      });
    case 'vault':
      return record({ display_name: field(hostileString), metadata: meta });
    case 'credential':
      return record({
        display_name: field(hostileString),
        auth: field(
          record({
            type: field(str('static_bearer', 'mcp_oauth')),
            mcp_server_url: field(url),
            token: field(hostileString),
            access_token: field(hostileString),
            expires_at: field(str('2030-01-01T00:00:00Z', 'yesterday')),
            refresh: field(hostileValue),
          }),
        ),
        metadata: meta,
      });
    case 'resource':
      return resourceBody(ids);
    case 'webhook':
      return record({
        // Loopback or unusable targets only: the fuzzed berthd must never send a delivery off this host.
        url: field(str('http://127.0.0.2:9/fuzz', 'http://localhost:9/', 'ftp://127.0.0.2/', 'http://u:p@127.0.0.2/')),
        description: field(hostileString),
        event_types: field(fc.array(str('session.created', 'session.error', 'nope'), { maxLength: 10 })),
        enabled: field(fc.boolean()),
        metadata: meta,
      });
    case 'rotate':
      return record({ grace_period_s: field(fc.integer({ min: -5, max: 10 ** 7 })) });
    case 'trigger':
      // Valid schedules here only ever fall due on January 1st, so no trigger the run creates fires a turn.
      return record({
        kind: field(str('schedule', 'webhook')),
        session_id: field(fc.oneof(fc.constant<Jv>(ids.session), hostileString)),
        prompt: field(hostileString),
        name: field(hostileString),
        enabled: field(fc.boolean()),
        schedule: field(
          record({
            cron: field(str('0 0 1 1 *', '@yearly', '61 * * * *', '0 0 30 2 *', '2026-01-01T00:00:00')),
            timezone: field(str('UTC', 'Europe/Paris', 'Mars/Base', '+01:00')),
          }),
        ),
        metadata: meta,
      });
    case 'tenant':
      return record({
        name: field(str('fuzz-tenant')),
        metadata: meta,
        budget: field(
          fc.oneof(
            fc.constant<Jv>(null),
            record({
              type: field(str('monthly', 'limit')),
              max_list_cost: field(
                record({
                  amount: field(str('0', '5000', '-1', '1e3', '99999999999999999')),
                  currency: field(str('USD', 'EUR')),
                }),
              ),
            }),
          ),
        ),
      });
    case 'apiKey':
      return record({
        scope: field(str('admin', 'read', 'write')),
        tenant_id: field(fc.oneof(fc.constant<Jv>(ids.tenant), anyId, hostileString)),
        name: field(hostileString),
        expires_at: field(str('2999-01-01T00:00:00Z', '1999-01-01T00:00:00Z', 'soon')),
      });
    case 'keyRotate':
      return record({ grace_seconds: field(fc.oneof(fc.integer({ min: -10, max: 1_000_000 }), hostileValue)) });
    case 'none':
      return fc.constant(null);
  }
}

function resourceBody(ids: Ids): fc.Arbitrary<Jv> {
  return record({
    type: field(str('file', 'github_repository')),
    file_id: field(fc.oneof(fc.constant<Jv>(ids.file), hostileString)),
    mount_path: field(mountPath),
    url: field(str('https://github.com/a/b', 'https://127.0.0.1/x.git', 'ext::sh -c id')),
    authorization_token: field(hostileString),
    checkout: field(
      record({
        type: field(str('branch', 'commit')),
        name: field(str('main', '--upload-pack=id')),
        sha: field(hostileString),
      }),
    ),
  });
}

/** Bytes that are not (quite) JSON: truncations, BOMs, invalid UTF-8, NUL, deep nesting, huge documents. */
const malformed: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .constantFrom(
      '{',
      '}',
      '[',
      '{"a":',
      '{"a" 1}',
      "{'a':1}",
      '{"a":1,}',
      'nul',
      'tru',
      '"',
      '\ufeff{}',
      '{}{}',
      '1 2',
      '{"\\u0000":1}',
      '{"a":"\\ud800"}',
      '{"a":"\\uZZZZ"}',
    )
    .map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
    Buffer.from('{"a":1}\u0000'),
  ),
  deep.map((s) => Buffer.from(s)),
  deep.map((s) => Buffer.from(`{"name":"x","metadata":${s}}`)),
  fc.integer({ min: 1, max: 200_000 }).map((n) => Buffer.from(`{"a":${'['.repeat(n)}`)),
  fc.integer({ min: 60_000, max: 140_000 }).map((n) => Buffer.from(JSON.stringify({ name: 'x'.repeat(n) }))),
);

/** A request body for a JSON route: plausible (mutated), any hostile value, or malformed bytes. */
export function jsonBody(kind: BodyKind, ids: Ids): fc.Arbitrary<Buffer | undefined> {
  return fc.oneof(
    { arbitrary: plausibleBody(kind, ids).map((v) => Buffer.from(toJson(v))), weight: 6 },
    { arbitrary: hostileValue.map((v) => Buffer.from(toJson(v))), weight: 2 },
    { arbitrary: malformed, weight: 2 },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
}
