import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logCapture, agentAndEnv, e2eSkipReason, startTestBerth, filesUnder, type TestBerth } from './harness.js';

const secret = (tag: string) => `${tag}-${randomBytes(12).toString('hex')}`;

/** Every secret this file ever sends; none may appear in a response, a log line or a file in the data dir. */
const S = {
  bearer: secret('bearer'),
  bearer2: secret('bearer2'),
  envValue: secret('envval'),
  envValue2: secret('envval2'),
  access: secret('access'),
  access2: secret('access2'),
  refresh: secret('refresh'),
  refresh2: secret('refresh2'),
  clientSecret: secret('clientsecret'),
  clientSecret2: secret('clientsecret2'),
  rejected: secret('rejected'),
};

/** The status and error_code of a failed SDK call. */
async function failure(p: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Anthropic.APIError) {
      const body = err.error as { error?: { message?: string; details?: { error_code?: string } } };
      return {
        status: Number(err.status),
        code: body.error?.details?.error_code ?? '',
        message: body.error?.message ?? '',
      };
    }
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe.skipIf(e2eSkipReason() !== false)('vaults and credentials through the official SDK', () => {
  let t: TestBerth;
  let client: Anthropic;
  const logs = logCapture();
  const bodies: string[] = [];

  beforeAll(async () => {
    const logStream = logs.stream;
    t = await startTestBerth({ logStream, config: { logLevel: 'trace' } });
    // The same client as the harness's, but recording every response body.
    client = new Anthropic({
      baseURL: t.app.url,
      apiKey: t.app.adminKey,
      maxRetries: 0,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        bodies.push(await res.clone().text());
        return res;
      },
    });
  });
  afterAll(async () => t?.close());

  it('creates, retrieves, updates, lists, archives and deletes vaults', async () => {
    const v = await client.beta.vaults.create({ display_name: 'Alice', metadata: { user: 'usr_1' } });
    expect(v).toMatchObject({ type: 'vault', display_name: 'Alice', metadata: { user: 'usr_1' }, archived_at: null });
    expect(v.id).toMatch(/^vlt_[0-9A-Z]{26}$/);
    expect(await client.beta.vaults.retrieve(v.id)).toEqual(v);
    const u = await client.beta.vaults.update(v.id, { display_name: 'Alice B', metadata: { user: null, team: 't' } });
    expect(u).toMatchObject({ display_name: 'Alice B', metadata: { team: 't' } });
    const others = [
      await client.beta.vaults.create({ display_name: 'o1' }),
      await client.beta.vaults.create({ display_name: 'o2' }),
    ];
    const seen: string[] = [];
    for await (const x of client.beta.vaults.list({ limit: 1 })) seen.push(x.id);
    expect(seen).toEqual([others[1]!.id, others[0]!.id, v.id]);
    const archived = await client.beta.vaults.archive(others[0]!.id);
    expect(archived.archived_at).not.toBeNull();
    expect((await client.beta.vaults.list()).data.map((x) => x.id)).not.toContain(others[0]!.id);
    expect((await client.beta.vaults.list({ include_archived: true })).data.map((x) => x.id)).toContain(others[0]!.id);
    expect(await failure(client.beta.vaults.update(others[0]!.id, { display_name: 'x' }))).toMatchObject({
      status: 400,
      code: 'vault_archived',
    });
    expect(await client.beta.vaults.delete(others[1]!.id)).toEqual({ id: others[1]!.id, type: 'vault_deleted' });
    expect(await failure(client.beta.vaults.retrieve(others[1]!.id))).toMatchObject({ status: 404 });
    expect(await failure(client.beta.vaults.create({ display_name: '' }))).toMatchObject({ status: 400 });
  });

  it('stores each credential type and serves only its public fields', async () => {
    const v = await client.beta.vaults.create({ display_name: 'creds' });
    const creds = client.beta.vaults.credentials;
    const bearer = await creds.create(v.id, {
      display_name: 'GitHub',
      auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/sse', token: S.bearer },
    });
    expect(bearer).toMatchObject({
      type: 'vault_credential',
      vault_id: v.id,
      display_name: 'GitHub',
      metadata: {},
      archived_at: null,
      auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/sse' },
    });
    expect(Object.keys(bearer.auth).sort()).toEqual(['mcp_server_url', 'type']);
    expect(bearer.id).toMatch(/^vcrd_/);

    const env = await creds.create(v.id, {
      auth: {
        type: 'environment_variable',
        secret_name: 'STRIPE_KEY',
        secret_value: S.envValue,
        networking: { type: 'limited', allowed_hosts: ['api.stripe.com', '*.stripe.com'] },
      },
    });
    expect(env.auth).toEqual({
      type: 'environment_variable',
      secret_name: 'STRIPE_KEY',
      injection_location: { header: true, body: false },
      networking: { type: 'limited', allowed_hosts: ['api.stripe.com', '*.stripe.com'] },
    });

    const expires = new Date(Date.now() + 3600_000).toISOString();
    const oauth = await creds.create(v.id, {
      auth: {
        type: 'mcp_oauth',
        mcp_server_url: 'https://linear.example.com/mcp',
        access_token: S.access,
        expires_at: expires,
        refresh: {
          client_id: 'client-1',
          refresh_token: S.refresh,
          token_endpoint: 'https://linear.example.com/oauth/token',
          token_endpoint_auth: { type: 'client_secret_basic', client_secret: S.clientSecret },
          scope: 'read',
        },
      },
      metadata: { k: 'v' },
    });
    expect(oauth.auth).toEqual({
      type: 'mcp_oauth',
      mcp_server_url: 'https://linear.example.com/mcp',
      expires_at: expires,
      refresh: {
        client_id: 'client-1',
        token_endpoint: 'https://linear.example.com/oauth/token',
        token_endpoint_auth: { type: 'client_secret_basic' },
        resource: null,
        scope: 'read',
      },
    });

    expect(await creds.retrieve(env.id, { vault_id: v.id })).toEqual(env);
    const listed: string[] = [];
    for await (const c of creds.list(v.id, { limit: 2 })) listed.push(c.id);
    expect(listed).toEqual([oauth.id, env.id, bearer.id]);

    // The decrypted view the egress layer gets.
    const resolved = await t.app.vaults.credentialsForSession([v.id]);
    expect(resolved.map((r) => r.type)).toEqual(['static_bearer', 'environment_variable', 'mcp_oauth']);
    expect(resolved[0]).toMatchObject({ token: S.bearer, mcpServerUrl: 'https://mcp.example.com/sse', vaultId: v.id });
    expect(resolved[1]).toMatchObject({
      secretName: 'STRIPE_KEY',
      value: S.envValue,
      injectionLocation: { header: true, body: false },
      networking: { type: 'limited', allowedHosts: ['api.stripe.com', '*.stripe.com'] },
    });
    expect(resolved[2]).toMatchObject({
      accessToken: S.access,
      refresh: { refreshToken: S.refresh, tokenEndpointAuth: { clientSecret: S.clientSecret } },
    });
    // A stray log or JSON dump of a resolved credential does not leak it.
    const dumped = JSON.stringify(resolved);
    for (const s of [S.bearer, S.envValue, S.access, S.refresh, S.clientSecret]) expect(dumped).not.toContain(s);

    // Updates: new secrets replace old ones; public fields change as asked.
    await creds.update(bearer.id, { vault_id: v.id, auth: { type: 'static_bearer', token: S.bearer2 } });
    const env2 = await creds.update(env.id, {
      vault_id: v.id,
      auth: { type: 'environment_variable', secret_value: S.envValue2, networking: { type: 'unrestricted' } },
      display_name: 'Stripe',
    });
    expect(env2.auth).toMatchObject({ networking: { type: 'unrestricted' }, secret_name: 'STRIPE_KEY' });
    expect(env2.display_name).toBe('Stripe');
    const oauth2 = await creds.update(oauth.id, {
      vault_id: v.id,
      auth: {
        type: 'mcp_oauth',
        access_token: S.access2,
        refresh: {
          refresh_token: S.refresh2,
          scope: '',
          token_endpoint_auth: { type: 'client_secret_post', client_secret: S.clientSecret2 },
        },
      },
      metadata: { k: null },
    });
    expect(oauth2.auth).toMatchObject({
      refresh: { scope: null, token_endpoint_auth: { type: 'client_secret_basic' } },
    });
    expect(oauth2.metadata).toEqual({});
    const after = await t.app.vaults.credentialsForSession([v.id]);
    expect(after[0]).toMatchObject({ token: S.bearer2 });
    expect(after[1]).toMatchObject({ value: S.envValue2, networking: { type: 'unrestricted' } });
    expect(after[2]).toMatchObject({
      accessToken: S.access2,
      refresh: { refreshToken: S.refresh2, tokenEndpointAuth: { clientSecret: S.clientSecret2 } },
    });

    // Archive purges the secret and revokes it; delete removes it.
    const arch = await creds.archive(bearer.id, { vault_id: v.id });
    expect(arch.archived_at).not.toBeNull();
    expect((await t.app.vaults.credentialsForSession([v.id])).map((r) => r.credentialId)).toEqual([env.id, oauth.id]);
    expect(await failure(creds.update(bearer.id, { vault_id: v.id, display_name: 'x' }))).toMatchObject({
      status: 400,
      code: 'vault_credential_archived',
    });
    expect(await creds.delete(env.id, { vault_id: v.id })).toEqual({ id: env.id, type: 'vault_credential_deleted' });
    expect(await failure(creds.retrieve(env.id, { vault_id: v.id }))).toMatchObject({ status: 404 });
    expect(await failure(creds.mcpOAuthValidate(oauth.id, { vault_id: v.id }))).toMatchObject({
      status: 400,
      code: 'unsupported_feature',
    });
  });

  it('refuses bad credentials with clear 4xx errors that never echo the secret', async () => {
    const v = await client.beta.vaults.create({ display_name: 'bad' });
    const creds = client.beta.vaults.credentials;
    const url = 'https://dup.example.com/mcp';
    await creds.create(v.id, { auth: { type: 'static_bearer', mcp_server_url: url, token: S.bearer } });
    const dup = await failure(
      creds.create(v.id, { auth: { type: 'mcp_oauth', mcp_server_url: url, access_token: S.rejected } }),
    );
    expect(dup).toMatchObject({ status: 409, code: 'vault_credential_conflict' });
    const env = (secret_name: string, secret_value = S.rejected) =>
      creds.create(v.id, {
        auth: { type: 'environment_variable', secret_name, secret_value, networking: { type: 'unrestricted' } },
      });
    for (const name of ['PATH', 'ANTHROPIC_API_KEY', 'https_proxy', 'BERTH_X', 'LD_PRELOAD', '1BAD', 'A-B']) {
      const f = await failure(env(name));
      expect(f, name).toMatchObject({ status: 400, code: 'invalid_request' });
      expect(f.message).toMatch(/secret_name/);
    }
    // A credential's hosts follow the environment's breadth rules: a public-suffix wildcard would leak it anywhere.
    const broad = await failure(
      creds.create(v.id, {
        auth: {
          type: 'environment_variable',
          secret_name: 'BROAD',
          secret_value: S.rejected,
          networking: { type: 'limited', allowed_hosts: ['*.com'] },
        },
      }),
    );
    expect(broad).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(broad.message).toMatch(/too broad/);
    const badValue = await failure(env('GOOD_NAME', `${S.rejected}\r\nX-Injected: 1`));
    expect(badValue).toMatchObject({ status: 400 });
    const badToken = await failure(
      creds.create(v.id, {
        auth: { type: 'static_bearer', mcp_server_url: 'https://x.example.com', token: `a ${S.rejected}` },
      }),
    );
    expect(badToken).toMatchObject({ status: 400 });
    const withUserinfo = await failure(
      creds.create(v.id, {
        auth: { type: 'static_bearer', mcp_server_url: `https://u:${S.rejected}@x.example.com`, token: 'tok' },
      }),
    );
    expect(withUserinfo).toMatchObject({ status: 400 });
    const [first] = (await creds.list(v.id)).data;
    const typeChange = await failure(
      creds.update(first!.id, { vault_id: v.id, auth: { type: 'environment_variable', secret_value: S.rejected } }),
    );
    expect(typeChange).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(typeChange.message).toMatch(/cannot change/);
    await client.beta.vaults.archive(v.id);
    expect(
      await failure(
        creds.create(v.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://y.example.com', token: 'x' } }),
      ),
    ).toMatchObject({ status: 400, code: 'vault_archived' });
  });

  it('attaches vaults to a session, refusing unknown, archived and repeated ones', async () => {
    const { agentId, envId } = await agentAndEnv(client);
    const a = await client.beta.vaults.create({ display_name: 'a' });
    const b = await client.beta.vaults.create({ display_name: 'b' });
    await client.beta.vaults.credentials.create(a.id, {
      auth: { type: 'static_bearer', mcp_server_url: 'https://s.example.com/mcp', token: S.bearer },
    });
    const s = await client.beta.sessions.create({ agent: agentId, environment_id: envId, vault_ids: [b.id, a.id] });
    expect(s.vault_ids).toEqual([b.id, a.id]);
    expect((await client.beta.sessions.retrieve(s.id)).vault_ids).toEqual([b.id, a.id]);
    const resolved = await t.app.vaults.credentialsForSession(s.vault_ids);
    expect(resolved.map((r) => r.vaultId)).toEqual([a.id]);
    const create = (vault_ids: string[]) =>
      failure(client.beta.sessions.create({ agent: agentId, environment_id: envId, vault_ids }));
    const unknown = await create(['vlt_01NOPE']);
    expect(unknown).toMatchObject({ status: 404, code: 'not_found' });
    expect(unknown.message).toContain('vlt_01NOPE');
    expect(await create(['not-a-vault'])).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(await create([a.id, a.id])).toMatchObject({ status: 400, code: 'invalid_request' });
    await client.beta.vaults.archive(b.id);
    expect(await create([a.id, b.id])).toMatchObject({ status: 400, code: 'vault_archived' });
    const upd = await failure(client.beta.sessions.update(s.id, { vault_ids: [a.id] }));
    expect(upd).toMatchObject({ status: 400, code: 'invalid_request' });
    await client.beta.sessions.delete(s.id);
  });

  it('a ciphertext moved to another credential row fails to decrypt (AAD binds it to its credential)', async () => {
    const v = await client.beta.vaults.create({ display_name: 'moved' });
    const creds = client.beta.vaults.credentials;
    const c1 = await creds.create(v.id, {
      auth: { type: 'static_bearer', mcp_server_url: 'https://m1.example.com', token: S.bearer },
    });
    const c2 = await creds.create(v.id, {
      auth: { type: 'static_bearer', mcp_server_url: 'https://m2.example.com', token: S.bearer2 },
    });
    const db = new BetterSqlite3(join(t.dataDir, 'berth.db'));
    try {
      db.prepare(
        `UPDATE vault_credentials SET (secret_nonce, secret_ciphertext, secret_tag) =
           (SELECT secret_nonce, secret_ciphertext, secret_tag FROM vault_credentials WHERE id = ?) WHERE id = ?`,
      ).run(c1.id, c2.id);
    } finally {
      db.close();
    }
    await expect(t.app.vaults.credentialsForSession([v.id])).rejects.toThrow(/cannot be decrypted/);
    await client.beta.vaults.delete(v.id);
  });

  it('no secret and not the master key ever appears in a response, a log line or a data-dir file in clear', async () => {
    const key = t.app.config.vaultMasterKey!;
    expect(key).toHaveLength(44);
    expect(statSync(join(t.dataDir, 'vault.key'), { throwIfNoEntry: false })).toBeUndefined();
    const responses = bodies.join('\n');
    expect(bodies.length).toBeGreaterThan(40);
    expect(logs.text()).toMatch(/"level":20/); // debug lines (one per request) were captured too
    expect(logs.text()).not.toContain('generated master key');
    // Sandbox disk images are sparse multi-GiB files: they hold no berthd data (the sandboxes' own files are searched
    // through their mounts in egress-credentials.test.ts), so only files below 64 MiB are read here.
    const files = filesUnder(t.dataDir).filter((f) => statSync(f).size < 64 * 1024 * 1024);
    expect(files.some((f) => f.endsWith('berth.db'))).toBe(true);
    const fileBytes = files.map((f) => [f, readFileSync(f).toString('latin1')] as const);
    for (const [name, value] of [...Object.entries(S), ['masterKey', key]]) {
      expect(responses, `${name} in a response`).not.toContain(value);
      expect(logs.text(), `${name} in the log`).not.toContain(value);
      for (const [f, bytes] of fileBytes) expect(bytes, `${name} in ${f}`).not.toContain(value);
    }
  });
});
