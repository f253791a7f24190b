import { isIP } from 'node:net';
import { z } from 'zod';
import { checkHostRule } from '../egress/hosts.js';
import { MetadataPatchSchema, MetadataSchema } from './common.js';

/** Request bodies of the vault and credential routes (SDK 1.14 `beta/vaults`). Secret fields are write-only. */

export const VaultCreateSchema = z.strictObject({
  display_name: z.string().min(1).max(255),
  metadata: MetadataSchema.optional(),
});

export const VaultUpdateSchema = z.strictObject({
  display_name: z.string().min(1).max(255).nullable().optional(),
  metadata: MetadataPatchSchema.nullable().optional(),
});

/** A URL to match MCP requests on. Credentials in the URL would be served back in clear, so they are refused. */
const McpServerUrl = z
  .string()
  .max(2048)
  .refine((u) => {
    if (!URL.canParse(u)) return false;
    const url = new URL(u);
    return (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password;
  }, 'must be an http(s) URL without user:password@');

/** A token sent in an HTTP header: visible ASCII only, so it can never split or add a header. */
const HeaderToken = z
  .string()
  .min(1)
  .max(16_384)
  .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII without spaces or control characters (it is sent in a header)');

/** A secret substituted into requests: no control characters (tab allowed), so it cannot split a header. */
const SecretValue = z
  .string()
  .min(1)
  .max(65_536)
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  .regex(/^[^\x00-\x08\x0a-\x1f\x7f]+$/, 'must not contain control characters (tab is allowed)');

/** Names the sandbox's own environment uses, or that change how programs load or reach the network. */
const RESERVED_NAMES = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'PWD', 'OLDPWD', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LANGUAGE', 'TERM',
  'HOSTNAME', 'TZ', 'IFS', 'ENV', 'BASH_ENV', 'CDPATH', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY',
  'FTP_PROXY', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO',
  'PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'PERL5LIB', 'PERL5OPT', 'RUBYOPT', 'RUBYLIB', 'CLAUDECODE',
]); // prettier-ignore
const RESERVED_PREFIXES = [
  'ANTHROPIC_',
  'CLAUDE_',
  'BERTH_',
  'LC_',
  'LD_',
  'DYLD_',
  'NODE_',
  'NPM_CONFIG_',
  'BASH_FUNC_',
];

/** Why an environment variable name may not hold a vault secret, or undefined when it may. */
export function reservedEnvName(name: string): string | undefined {
  const n = name.toUpperCase();
  if (RESERVED_NAMES.has(n)) return `${name} is part of the sandbox's own environment`;
  const p = RESERVED_PREFIXES.find((x) => n.startsWith(x));
  return p ? `names starting with ${p} are reserved for the sandbox` : undefined;
}

const SecretName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name: letters, digits and _, no leading digit')
  .superRefine((name, ctx) => {
    const why = reservedEnvName(name);
    if (why) ctx.addIssue({ code: 'custom', message: `is reserved (${why}); choose another name` });
  });

/** `api.example.com`, `192.0.2.1` or `*.example.com`; no URLs, ports, paths or IPv6. */
const AllowedHost = z
  .string()
  .max(253)
  .refine(
    (h) =>
      isIP(h) === 4 || /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(h),
    'must be a hostname, an IPv4 address or a *.wildcard (no scheme, port, path or IPv6)',
  )
  // The same breadth rules as an environment's allowed_hosts: `*.com` would hand the secret to any .com host.
  .superRefine(checkHostRule);

const Networking = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('unrestricted') }),
  z.strictObject({ type: z.literal('limited'), allowed_hosts: z.array(AllowedHost).min(1).max(16) }),
]);

const InjectionLocation = z.strictObject({ body: z.boolean().optional(), header: z.boolean().optional() });

const Timestamp = z.iso.datetime({ offset: true }).refine((t) => Date.parse(t) > Date.now(), 'must be in the future');

const ClientSecret = HeaderToken;
const TokenEndpointAuth = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('client_secret_basic'), client_secret: ClientSecret }),
  z.strictObject({ type: z.literal('client_secret_post'), client_secret: ClientSecret }),
]);

const OptText = z.string().max(2048).nullable().optional();

export const AuthCreateSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('static_bearer'), mcp_server_url: McpServerUrl, token: HeaderToken }),
  z.strictObject({
    type: z.literal('environment_variable'),
    secret_name: SecretName,
    secret_value: SecretValue,
    networking: Networking,
    injection_location: InjectionLocation.optional(),
  }),
  z.strictObject({
    type: z.literal('mcp_oauth'),
    mcp_server_url: McpServerUrl,
    access_token: HeaderToken,
    expires_at: Timestamp.nullable().optional(),
    refresh: z
      .strictObject({
        client_id: z.string().min(1).max(512),
        refresh_token: HeaderToken,
        token_endpoint: McpServerUrl,
        token_endpoint_auth: TokenEndpointAuth,
        resource: OptText,
        scope: OptText,
      })
      .nullable()
      .optional(),
  }),
]);
export type AuthCreate = z.infer<typeof AuthCreateSchema>;

const SecretUpdate = z.strictObject({
  type: z.enum(['client_secret_basic', 'client_secret_post']),
  client_secret: ClientSecret.nullable().optional(),
});

export const AuthUpdateSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('static_bearer'), token: HeaderToken.nullable().optional() }),
  z.strictObject({
    type: z.literal('environment_variable'),
    secret_value: SecretValue.nullable().optional(),
    networking: Networking.nullable().optional(),
    injection_location: InjectionLocation.optional(),
  }),
  z.strictObject({
    type: z.literal('mcp_oauth'),
    access_token: HeaderToken.nullable().optional(),
    expires_at: Timestamp.nullable().optional(),
    refresh: z
      .strictObject({
        refresh_token: HeaderToken.nullable().optional(),
        scope: OptText,
        token_endpoint_auth: SecretUpdate.optional(),
      })
      .nullable()
      .optional(),
  }),
]);
export type AuthUpdate = z.infer<typeof AuthUpdateSchema>;

export const CredentialCreateSchema = z.strictObject({
  auth: AuthCreateSchema,
  display_name: z.string().max(255).nullable().optional(),
  metadata: MetadataSchema.optional(),
});

export const CredentialUpdateSchema = z.strictObject({
  auth: AuthUpdateSchema.optional(),
  display_name: z.string().min(1).max(255).nullable().optional(),
  metadata: MetadataPatchSchema.nullable().optional(),
});
