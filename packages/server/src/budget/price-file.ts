import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../config.js';
import { PriceTable, type ModelPrice } from './prices.js';

const usdPerMillion = z.number().finite().min(0).max(1_000_000);

/**
 * The operator's price file (`--price-file`, format in docs/api.md "Usage and cost"): model-id prefixes with their
 * prices in USD per million tokens. A prefix already in the built-in table replaces that row; a new one is added.
 */
export const PriceFileSchema = z.strictObject({
  models: z
    .record(
      z.string().min(1).max(128),
      z.strictObject({
        input: usdPerMillion,
        output: usdPerMillion,
        cache_write: usdPerMillion,
        cache_read: usdPerMillion,
      }),
    )
    .refine((m) => Object.keys(m).length <= 1000, 'at most 1000 models'),
});
export type PriceFile = z.infer<typeof PriceFileSchema>;

/** The model rows a parsed price file adds or overrides. */
export function priceRows(file: PriceFile): ModelPrice[] {
  return Object.entries(file.models).map(([prefix, p]) => ({ prefix, ...p }));
}

/** Reads and validates the price file; any problem stops berthd with a ConfigError naming the file and field. */
export async function loadPriceTable(opts: {
  priceFile?: string | undefined;
  containerVcpuHourUsd: number;
}): Promise<PriceTable> {
  if (opts.priceFile === undefined) return new PriceTable([], opts.containerVcpuHourUsd);
  const path = resolve(opts.priceFile);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(
      `The price file ${path} cannot be read as JSON (${(err as Error).message}). Fix it or unset --price-file.`,
    );
  }
  const parsed = PriceFileSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues
      .slice(0, 10)
      .map((i) => `- ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(
      `Invalid price file ${path} (format: {"models": {"<model-id prefix>": {"input", "output", "cache_write", ` +
        `"cache_read"}}}, USD per million tokens; see docs/api.md):\n${lines.join('\n')}`,
    );
  }
  return new PriceTable(priceRows(parsed.data), opts.containerVcpuHourUsd);
}
