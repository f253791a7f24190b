import { z } from 'zod';
import { bool, port } from './config-values.js';

/**
 * The config fields of the services around sessions: trigger webhooks, port previews, outbound webhooks and the usage
 * ledger's prices. Part of the one schema in config.ts (spread into `CONFIG_FIELDS`), kept here so each file holds one
 * idea: config.ts the core server, sandboxes and lifecycle, and the loading rules.
 */
export const SERVICE_FIELDS = {
  triggerWebhookMaxBytes: {
    env: 'BERTH_TRIGGER_WEBHOOK_MAX_BYTES',
    schema: z.coerce
      .number()
      .int()
      .min(256)
      .max(1024 * 1024)
      .default(64 * 1024)
      .describe(
        'Largest payload a webhook trigger (`POST /v1/berth/triggers/{id}/hook`) accepts; it reaches the agent inside a user.message, so keep it small. Larger gets 413.',
      ),
  },
  triggerWebhookRatePerMinute: {
    env: 'BERTH_TRIGGER_WEBHOOK_RATE_PER_MINUTE',
    schema: z.coerce
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(60)
      .describe('Deliveries one webhook trigger accepts per minute (a token bucket of this size); more get 429.'),
  },
  previewPort: {
    env: 'BERTH_PREVIEW_PORT',
    schema: port
      .optional()
      .describe(
        "Serve port previews (an agent's HTTP/WebSocket server, at <port>-<session>.<preview domain>) on this port, at preview-host, apart from the API. 0 picks a free port. Unset: previews are off.",
      ),
  },
  previewHost: {
    env: 'BERTH_PREVIEW_HOST',
    schema: z.string().min(1).default('127.0.0.1').describe('Address the preview listener binds.'),
  },
  previewPublicUrl: {
    env: 'BERTH_PREVIEW_PUBLIC_URL',
    schema: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .optional()
      .describe(
        'Base URL clients reach the preview listener by, e.g. https://preview.example.com behind a TLS proxy with a wildcard name; its host is the preview domain. Default: http://preview.localhost:<preview port> (browsers resolve *.localhost to loopback).',
      ),
  },
  previewIdleTimeoutS: {
    env: 'BERTH_PREVIEW_IDLE_TIMEOUT_S',
    schema: z.coerce
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(300)
      .describe('A preview connection (HTTP or WebSocket) with no traffic either way for this long is closed.'),
  },
  previewMaxConnections: {
    env: 'BERTH_PREVIEW_MAX_CONNECTIONS',
    schema: z.coerce
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe("Most preview connections open at once into one session's sandbox; more are answered 429."),
  },
  webhookAllowPrivateTargets: {
    env: 'BERTH_WEBHOOK_ALLOW_PRIVATE_TARGETS',
    schema: bool
      .default(false)
      .describe(
        'Allow webhook URLs on loopback, private, link-local (cloud metadata) and other special addresses, as IP literals or names resolving there. Off: such targets are refused (SSRF defence).',
      ),
  },
  webhookMaxAttempts: {
    env: 'BERTH_WEBHOOK_MAX_ATTEMPTS',
    schema: z.coerce
      .number()
      .int()
      .min(1)
      .max(100)
      .default(10)
      .describe('Attempts per webhook delivery before it is marked failed (it can still be redelivered).'),
  },
  webhookBackoffBaseMs: {
    env: 'BERTH_WEBHOOK_BACKOFF_BASE_MS',
    schema: z.coerce
      .number()
      .int()
      .min(10)
      .default(30_000)
      .describe(
        'Delay before the first webhook retry (ms); each later retry doubles it up to the maximum, with jitter (a random point in the upper half).',
      ),
  },
  webhookBackoffMaxMs: {
    env: 'BERTH_WEBHOOK_BACKOFF_MAX_MS',
    schema: z.coerce.number().int().min(10).default(3_600_000).describe('Longest delay between webhook retries (ms).'),
  },
  webhookTimeoutMs: {
    env: 'BERTH_WEBHOOK_TIMEOUT_MS',
    schema: z.coerce
      .number()
      .int()
      .min(100)
      .max(300_000)
      .default(10_000)
      .describe('Limit of one webhook attempt, connect to response (ms); a slower receiver counts as failed.'),
  },
  priceFile: {
    env: 'BERTH_PRICE_FILE',
    schema: z
      .string()
      .min(1)
      .optional()
      .describe(
        'JSON price file that overrides or adds model prices (USD per million tokens, by model-id prefix) on top of the built-in list prices; format in docs/api.md ("Usage and cost").',
      ),
  },
  containerVcpuHourUsd: {
    env: 'BERTH_CONTAINER_VCPU_HOUR_USD',
    schema: z.coerce
      .number()
      .min(0)
      .max(1000)
      .default(0.05)
      .describe(
        "Price of sandbox time in USD per vCPU-hour (a session's CPU limit, 1 vCPU when it has none), for the usage ledger's costs.",
      ),
  },
  sandboxUsageSampleS: {
    env: 'BERTH_SANDBOX_USAGE_SAMPLE_S',
    schema: z.coerce
      .number()
      .min(0.1)
      .max(3600)
      .default(60)
      .describe(
        "How often each live sandbox's time and cgroup memory are sampled into the usage ledger (seconds); a sandbox's last interval is written when it stops.",
      ),
  },
} as const;
