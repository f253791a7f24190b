import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';

/**
 * Where the CLI's client commands connect. Read from flags first, then BERTH_URL / BERTH_API_KEY, then the admin
 * key saved in the data dir: this is the only place the CLI reads the environment for its own settings.
 */
export const ClientOptionsSchema = z.object({
  url: z.url().default('http://127.0.0.1:7400'),
  apiKey: z.string().min(1).optional(),
  dataDir: z.string().default('.berth'),
  /** Sent as the `berth-tenant` header: the tenant an admin key acts on. */
  tenant: z.string().min(1).max(128).optional(),
});
export type ClientOptions = z.infer<typeof ClientOptionsSchema>;

export function clientOptions(flags: {
  url?: string;
  apiKey?: string;
  dataDir?: string;
  asTenant?: string;
}): ClientOptions {
  return ClientOptionsSchema.parse({
    url: flags.url ?? process.env.BERTH_URL,
    apiKey: flags.apiKey ?? process.env.BERTH_API_KEY ?? process.env.BERTH_ADMIN_KEY,
    dataDir: flags.dataDir ?? process.env.BERTH_DATA_DIR,
    tenant: flags.asTenant ?? process.env.BERTH_TENANT,
  });
}

/** The official SDK pointed at Berth: the CLI is an ordinary Managed Agents client. */
export function makeClient(o: ClientOptions): Anthropic {
  let apiKey = o.apiKey;
  if (!apiKey) {
    const file = join(resolve(o.dataDir), 'admin.key');
    try {
      apiKey = readFileSync(file, 'utf8').trim();
    } catch {
      throw new Error(
        `No API key: pass --api-key, set BERTH_API_KEY, or run where ${file} exists (berth serve writes it).`,
      );
    }
  }
  return new Anthropic({
    baseURL: o.url,
    apiKey,
    maxRetries: 1,
    ...(o.tenant ? { defaultHeaders: { 'berth-tenant': o.tenant } } : {}),
  });
}
