import { resolve } from 'node:path';
import { z } from 'zod';
import { SERVICE_FIELDS } from './config-services.js';
import { bool, list, port } from './config-values.js';

/**
 * The one configuration schema of berthd. Parsed once at start-up (`loadConfig`); every field is described so that
 * `berth serve --help` and docs/config.md are generated from it. Nothing else in Berth reads `process.env`.
 *
 * Each field can be set by a CLI flag (`--kebab-case`) or an environment variable (`env` below); flags win.
 */

/** Field definitions: schema (with default and description) and the environment variable that sets it. */
export const CONFIG_FIELDS = {
  host: { env: 'BERTH_HOST', schema: z.string().min(1).default('127.0.0.1').describe('Address the API listens on.') },
  port: { env: 'BERTH_PORT', schema: port.default(7400).describe('TCP port of the API (0 picks a free port).') },
  dataDir: {
    env: 'BERTH_DATA_DIR',
    schema: z.string().min(1).default('.berth').describe('Directory for the SQLite database, admin key and sandboxes.'),
  },
  databaseUrl: {
    env: 'BERTH_DATABASE_URL',
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional()
      .describe('PostgreSQL URL. When unset, berthd uses a SQLite file (WAL) in the data dir.'),
  },
  adminKey: {
    env: 'BERTH_ADMIN_KEY',
    secret: true,
    schema: z
      .string()
      .min(16, 'must be at least 16 characters')
      .optional()
      .describe(
        'Bootstrap admin API key. When unset, one is generated, printed once and saved to <data-dir>/admin.key.',
      ),
  },
  scriptedModel: {
    env: 'BERTH_SCRIPTED_MODEL',
    schema: bool
      .optional()
      .describe('Use the built-in scripted model as upstream. Default: on when no ANTHROPIC_API_KEY is set.'),
  },
  scenarios: {
    env: 'BERTH_SCENARIOS',
    schema: list.default([]).describe('Directories of scripted-model scenario files (*.json), comma-separated.'),
  },
  anthropicApiKey: {
    env: 'ANTHROPIC_API_KEY',
    secret: true,
    schema: z.string().min(1).optional().describe('Real upstream API key. It stays in berthd; sandboxes never see it.'),
  },
  vaultMasterKey: {
    env: 'BERTH_VAULT_MASTER_KEY',
    secret: true,
    schema: z
      .string()
      .regex(/^\s*[A-Za-z0-9+/_-]{43}=?\s*$/, 'must be base64 of exactly 32 bytes (`openssl rand -base64 32`)')
      .optional()
      .describe(
        'Master key (base64 of 32 bytes) that encrypts vault secrets at rest (AES-256-GCM). When neither this nor ' +
          '--vault-master-key-file is set, a key is generated into <data-dir>/vault.key (mode 0600) and berthd warns.',
      ),
  },
  vaultMasterKeyFile: {
    env: 'BERTH_VAULT_MASTER_KEY_FILE',
    schema: z
      .string()
      .min(1)
      .optional()
      .describe(
        'File holding the vault master key (base64 of 32 bytes). Keep it outside the data dir and its backups.',
      ),
  },
  upstreamUrl: {
    env: 'BERTH_UPSTREAM_URL',
    schema: z
      .url()
      .default('https://api.anthropic.com')
      .describe('Anthropic-compatible upstream for the model gateway.'),
  },
  defaultMemoryMib: {
    env: 'BERTH_DEFAULT_MEMORY_MIB',
    schema: z.coerce
      .number()
      .int()
      .min(64)
      .default(1024)
      .describe('Memory limit of a sandbox whose environment sets none (MiB).'),
  },
  defaultCpus: {
    env: 'BERTH_DEFAULT_CPUS',
    schema: z.coerce
      .number()
      .min(0.01)
      .default(1)
      .describe('CPU limit of a sandbox whose environment sets none (CPUs).'),
  },
  defaultPids: {
    env: 'BERTH_DEFAULT_PIDS',
    schema: z.coerce
      .number()
      .int()
      .min(32)
      .default(512)
      .describe('Task (pids) limit of a sandbox whose environment sets none.'),
  },
  defaultDiskMib: {
    env: 'BERTH_DEFAULT_DISK_MIB',
    schema: z.coerce
      .number()
      .int()
      .refine((v) => v === 0 || (v >= 64 && v <= 1_048_576), 'must be 0 (no default quota) or 64 to 1048576 MiB')
      .default(5120)
      .describe(
        'Disk quota (workspace + home, a loop-mounted ext4 image) of a sandbox whose environment sets none (MiB); 0: none.',
      ),
  },
  sandboxCaFile: {
    env: 'BERTH_SANDBOX_CA_FILE',
    schema: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file of extra CA certificates every sandbox trusts (a private registry, a corporate TLS gateway): ' +
          'added to the system bundle for curl/OpenSSL/Python and given to Node and the agent CLI as NODE_EXTRA_CA_CERTS.',
      ),
  },
  defaultTurnTimeoutS: {
    env: 'BERTH_DEFAULT_TURN_TIMEOUT_S',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .max(31_536_000)
      .default(1800)
      .describe(
        'Wall-clock limit of one turn (s) where berth.lifecycle sets none; a longer turn is interrupted. 0: none.',
      ),
  },
  defaultMaxLifetimeS: {
    env: 'BERTH_DEFAULT_MAX_LIFETIME_S',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .max(31_536_000)
      .default(86_400)
      .describe('Maximum lifetime of a session (s) where berth.lifecycle sets none; then it is stopped. 0: none.'),
  },
  defaultIdleTimeoutS: {
    env: 'BERTH_DEFAULT_IDLE_TIMEOUT_S',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .max(31_536_000)
      .default(0)
      .describe(
        'How long a session may sit idle (s) before it ends (sandbox stopped), where berth.lifecycle sets none. 0: none.',
      ),
  },
  defaultHibernateAfterS: {
    env: 'BERTH_DEFAULT_HIBERNATE_AFTER_S',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .max(31_536_000)
      .default(300)
      .describe(
        'How long a hybrid session may sit idle (s) before it hibernates, where berth.lifecycle sets none. 0: never on its own.',
      ),
  },
  shutdownDeadlineS: {
    env: 'BERTH_SHUTDOWN_DEADLINE_S',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(30)
      .describe(
        'On SIGTERM: how long running turns may take to finish before berthd stops waiting (hybrid sessions then hibernate, ephemeral ones end, persistent ones keep running for the next berthd to re-adopt).',
      ),
  },
  stopSandboxesOnExit: {
    env: 'BERTH_STOP_SANDBOXES_ON_EXIT',
    schema: bool
      .default(false)
      .describe(
        'Destroy every sandbox when berthd stops (instead of leaving persistent sessions running for re-adoption).',
      ),
  },
  maxSessions: {
    env: 'BERTH_MAX_SESSIONS',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(0)
      .describe('Most live sandboxes (sessions) at once; creating one more answers 429. 0: no limit.'),
  },
  maxTurns: {
    env: 'BERTH_MAX_TURNS',
    schema: z.coerce.number().int().min(1).max(10_000).default(100).describe('Default maxTurns for every agent turn.'),
  },
  modelMaxRetries: {
    env: 'BERTH_MODEL_MAX_RETRIES',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .max(10)
      .default(2)
      .describe('How often the agent CLI retries a failed model request before the turn fails.'),
  },
  maxBodyBytes: {
    env: 'BERTH_MAX_BODY_BYTES',
    schema: z.coerce
      .number()
      .int()
      .min(1024)
      .default(8 * 1024 * 1024)
      .describe('Largest accepted API request body.'),
  },
  maxFileBytes: {
    env: 'BERTH_MAX_FILE_BYTES',
    schema: z.coerce
      .number()
      .int()
      .min(1)
      .max(2 ** 40)
      .default(500 * 1024 * 1024)
      .describe('Largest file the Files API (`POST /v1/files`) accepts; larger uploads get 413 file_too_large.'),
  },
  maxWorkspaceUploadBytes: {
    env: 'BERTH_MAX_WORKSPACE_UPLOAD_BYTES',
    schema: z.coerce
      .number()
      .int()
      .min(1)
      .max(2 ** 40)
      .default(100 * 1024 * 1024)
      .describe('Largest file `PUT /v1/berth/sessions/{id}/files/content` writes into a workspace; larger gets 413.'),
  },
  sseHeartbeatMs: {
    env: 'BERTH_SSE_HEARTBEAT_MS',
    schema: z.coerce
      .number()
      .int()
      .min(100)
      .default(15_000)
      .describe('Interval of `: ping` comments on event streams.'),
  },
  runnerReadyTimeoutMs: {
    env: 'BERTH_RUNNER_READY_TIMEOUT_MS',
    schema: z.coerce
      .number()
      .int()
      .min(100)
      .default(20_000)
      .describe('How long a new sandbox may take to report ready.'),
  },
  uidRangeStart: {
    env: 'BERTH_UID_RANGE_START',
    schema: z.coerce.number().int().min(1000).default(200_000).describe('First host uid given to sandbox processes.'),
  },
  uidRangeCount: {
    env: 'BERTH_UID_RANGE_COUNT',
    schema: z.coerce.number().int().min(1).default(60_000).describe('Number of host uids reserved for sandboxes.'),
  },
  bwrapPath: { env: 'BERTH_BWRAP_PATH', schema: z.string().default('bwrap').describe('The bubblewrap binary.') },
  drivers: {
    env: 'BERTH_DRIVERS',
    schema: list
      .pipe(
        z
          .array(z.enum(['bwrap', 'gvisor'], { error: "each driver must be 'bwrap' or 'gvisor'" }))
          .refine((d) => d.includes('bwrap'), "must include 'bwrap' (the default driver)"),
      )
      .default(['bwrap'])
      .describe(
        "Sandbox drivers berthd offers, comma-separated (e.g. 'bwrap,gvisor'); an environment picks one with berth.driver. bwrap is always on; gvisor needs runsc.",
      ),
  },
  runscPath: {
    env: 'BERTH_RUNSC_PATH',
    schema: z.string().default('runsc').describe("gVisor's runsc binary (used when drivers includes gvisor)."),
  },
  gvisorUidRangeStart: {
    env: 'BERTH_GVISOR_UID_RANGE_START',
    schema: z.coerce
      .number()
      .int()
      .min(1000)
      .default(260_000)
      .describe(
        'First host uid given to gVisor sandboxes (uid-range-count of them; must not overlap the bwrap range).',
      ),
  },
  metricsPort: {
    env: 'BERTH_METRICS_PORT',
    schema: port
      .optional()
      .describe(
        'Also serve GET /metrics without authentication on this port (at metrics-host), for scrapers that should not hold the admin key. Unset: /metrics is only on the API port, behind the admin key.',
      ),
  },
  metricsHost: {
    env: 'BERTH_METRICS_HOST',
    schema: z.string().min(1).default('127.0.0.1').describe('Address the unauthenticated metrics listener binds.'),
  },
  otlpEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    schema: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .optional()
      .describe(
        'OTLP/HTTP collector base URL (spans go to <url>/v1/traces, JSON encoded). Setting it turns tracing on; unset, berthd exports nothing.',
      ),
  },
  otlpHeaders: {
    env: 'OTEL_EXPORTER_OTLP_HEADERS',
    secret: true,
    schema: z
      .string()
      .regex(/^[^=,\s]+=[^,]*(,[^=,\s]+=[^,]*)*$/, "must be 'key=value' pairs separated by commas")
      .optional()
      .describe('Headers sent with every OTLP export, e.g. an auth token (key=value,key2=value2). berthd only.'),
  },
  otelServiceName: {
    env: 'OTEL_SERVICE_NAME',
    schema: z.string().min(1).max(200).default('berthd').describe('service.name of the spans berthd exports.'),
  },
  otelCli: {
    env: 'BERTH_OTEL_CLI',
    schema: bool
      .default(false)
      .describe(
        "Turn on every session's Claude CLI telemetry (CLAUDE_CODE_ENABLE_TELEMETRY: OTLP metrics and log events); its exports reach the collector through the model gateway, which adds the OTLP headers. Needs the OTLP endpoint. The sandbox never gets the collector's URL or headers.",
      ),
  },
  ...SERVICE_FIELDS,
  logLevel: {
    env: 'BERTH_LOG_LEVEL',
    schema: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level.'),
  },
} as const;

type Fields = typeof CONFIG_FIELDS;
export type ConfigKey = keyof Fields;

export const ConfigSchema = z.strictObject(
  Object.fromEntries(Object.entries(CONFIG_FIELDS).map(([k, f]) => [k, f.schema])) as {
    [K in ConfigKey]: Fields[K]['schema'];
  },
);

/** Config as parsed; `dataDir` is absolute and the model mode is resolved. */
export type BerthConfig = z.output<typeof ConfigSchema> & { scriptedModel: boolean };

/** Raised for invalid configuration; the message lists each bad field and how it is set. */
export class ConfigError extends Error {}

/**
 * Parses config from environment variables and explicit overrides (CLI flags or tests); overrides win.
 * @param env usually `process.env` (the only place it is read)
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  overrides: Partial<Record<ConfigKey, unknown>> = {},
): BerthConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(CONFIG_FIELDS)) {
    const fromEnv = env[field.env];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
  }
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) raw[key] = value;
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      const field = CONFIG_FIELDS[key as ConfigKey];
      const how = field ? ` (flag --${kebab(key)} or env ${field.env})` : '';
      return `- ${key || '(root)'}: ${i.message}${how}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (c.vaultMasterKey !== undefined && c.vaultMasterKeyFile !== undefined) {
    throw new ConfigError(
      'Invalid configuration:\n- vaultMasterKey: set either env BERTH_VAULT_MASTER_KEY or flag --vault-master-key-file, not both',
    );
  }
  if (c.otelCli && c.otlpEndpoint === undefined) {
    throw new ConfigError(
      'Invalid configuration:\n- otelCli: needs an OTLP endpoint to send the CLI telemetry to; set flag --otlp-endpoint or env OTEL_EXPORTER_OTLP_ENDPOINT, or turn --otel-cli off',
    );
  }
  const overlap =
    c.gvisorUidRangeStart < c.uidRangeStart + c.uidRangeCount &&
    c.uidRangeStart < c.gvisorUidRangeStart + c.uidRangeCount;
  if (c.drivers.includes('gvisor') && overlap)
    throw new ConfigError(
      `Invalid configuration:\n- gvisorUidRangeStart: the gVisor uid range ${c.gvisorUidRangeStart}+${c.uidRangeCount} overlaps the bwrap range ${c.uidRangeStart}+${c.uidRangeCount}; move one (flag --gvisor-uid-range-start or env BERTH_GVISOR_UID_RANGE_START)`,
    );
  return { ...c, dataDir: resolve(c.dataDir), scriptedModel: c.scriptedModel ?? !c.anthropicApiKey };
}

/** `dataDir` → `data-dir`. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
}
