import { ApiError } from '../errors.js';
import type { JsonObject } from '../store/store.js';
import type { CredentialSecrets } from '../vaults/service.js';
import type { AuthCreate, AuthUpdate } from './vaults-schema.js';

/**
 * Splits a credential's `auth` into its public part (stored in clear and served as is) and its secret part (sealed).
 * The public part follows the SDK's `*AuthResponse` shapes, with every optional field present.
 */

/** The match key a credential is unique on within a vault: its MCP server URL or its variable name. */
export function matchKey(auth: JsonObject): string {
  return auth.type === 'environment_variable'
    ? `env:${auth.secret_name as string}`
    : `url:${auth.mcp_server_url as string}`;
}

export function fromCreate(a: AuthCreate): { auth: JsonObject; secrets: CredentialSecrets } {
  switch (a.type) {
    case 'static_bearer':
      return {
        auth: { type: a.type, mcp_server_url: a.mcp_server_url },
        secrets: { type: a.type, token: a.token },
      };
    case 'environment_variable': {
      const injection = { header: a.injection_location?.header ?? true, body: a.injection_location?.body ?? false };
      checkInjection(injection);
      return {
        auth: { type: a.type, secret_name: a.secret_name, injection_location: injection, networking: a.networking },
        secrets: { type: a.type, value: a.secret_value },
      };
    }
    case 'mcp_oauth': {
      const r = a.refresh;
      const secrets: CredentialSecrets = { type: a.type, access_token: a.access_token };
      if (r) {
        secrets.refresh_token = r.refresh_token;
        if (r.token_endpoint_auth.type !== 'none') secrets.client_secret = r.token_endpoint_auth.client_secret;
      }
      return {
        auth: {
          type: a.type,
          mcp_server_url: a.mcp_server_url,
          expires_at: a.expires_at ? new Date(a.expires_at).toISOString() : null,
          refresh: r
            ? {
                client_id: r.client_id,
                token_endpoint: r.token_endpoint,
                token_endpoint_auth: { type: r.token_endpoint_auth.type },
                resource: r.resource ?? null,
                scope: r.scope ?? null,
              }
            : null,
        },
        secrets,
      };
    }
  }
}

/**
 * Applies an update to the current public auth. `secrets` opens the current secret when a partial change needs it
 * (mcp_oauth); the result's `secrets` is undefined when no secret changed (the sealed secret is kept as is).
 */
export function applyUpdate(
  current: JsonObject,
  u: AuthUpdate,
  secrets: () => CredentialSecrets,
): { auth: JsonObject; secrets: CredentialSecrets | undefined } {
  if (u.type !== current.type) {
    throw new ApiError(
      'invalid_request',
      `auth.type must stay '${current.type as string}': a credential's type cannot change. Archive it and create a new one.`,
    );
  }
  switch (u.type) {
    case 'static_bearer':
      return { auth: current, secrets: u.token ? { type: u.type, token: u.token } : undefined };
    case 'environment_variable': {
      const cur = current.injection_location as { header: boolean; body: boolean };
      const injection = {
        header: u.injection_location?.header ?? cur.header,
        body: u.injection_location?.body ?? cur.body,
      };
      checkInjection(injection);
      return {
        auth: {
          ...current,
          injection_location: injection,
          networking: (u.networking ?? current.networking) as JsonObject,
        },
        secrets: u.secret_value ? { type: u.type, value: u.secret_value } : undefined,
      };
    }
    case 'mcp_oauth':
      return oauthUpdate(current, u, secrets);
  }
}

function oauthUpdate(
  current: JsonObject,
  u: Extract<AuthUpdate, { type: 'mcp_oauth' }>,
  open: () => CredentialSecrets,
): { auth: JsonObject; secrets: CredentialSecrets | undefined } {
  const auth: JsonObject = { ...current };
  if (u.expires_at !== undefined) auth.expires_at = u.expires_at ? new Date(u.expires_at).toISOString() : null;
  const touchesSecret = !!u.access_token || u.refresh !== undefined;
  if (!touchesSecret) return { auth, secrets: undefined };
  const old = open();
  if (old.type !== 'mcp_oauth') throw new Error('secret type mismatch');
  const next = { ...old };
  if (u.access_token) next.access_token = u.access_token;
  if (u.refresh === null) {
    auth.refresh = null;
    delete next.refresh_token;
    delete next.client_secret;
  } else if (u.refresh) {
    const refresh = current.refresh as JsonObject | null;
    if (!refresh) {
      throw new ApiError(
        'invalid_request',
        'This credential has no refresh configuration to update; client_id and token_endpoint are set at create. Create a new credential with refresh.',
      );
    }
    const r: JsonObject = { ...refresh };
    if (u.refresh.refresh_token) next.refresh_token = u.refresh.refresh_token;
    if (u.refresh.scope !== undefined) r.scope = u.refresh.scope === '' ? null : u.refresh.scope;
    const tea = u.refresh.token_endpoint_auth;
    if (tea) {
      // The stored auth type is kept (the SDK says so); only its secret changes.
      if ((refresh.token_endpoint_auth as { type: string }).type === 'none') {
        throw new ApiError(
          'invalid_request',
          "refresh.token_endpoint_auth can only change the client_secret of a credential that uses 'client_secret_basic' or 'client_secret_post'.",
        );
      }
      if (tea.client_secret) next.client_secret = tea.client_secret;
    }
    auth.refresh = r;
  }
  return { auth, secrets: next };
}

function checkInjection(i: { header: boolean; body: boolean }): void {
  if (!i.header && !i.body) {
    throw new ApiError(
      'invalid_request',
      'injection_location must enable at least one of header and body, or the secret could never be used.',
    );
  }
}
