import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config.js';
import { loadPriceTable } from './price-file.js';
import { LIST_PRICES, PriceTable } from './prices.js';

const dir = mkdtempSync(join(tmpdir(), 'prices-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const usage = (model: string | null, input: number, output = 0, cacheWrite = 0, cacheRead = 0) => ({
  model,
  input_tokens: input,
  output_tokens: output,
  cache_creation_input_tokens: cacheWrite,
  cache_read_input_tokens: cacheRead,
  requests: 1,
});

describe('price table and price file', () => {
  it('prices by the longest prefix; an unknown model is charged at the dearest row', () => {
    const t = new PriceTable();
    expect(t.priceOf('claude-opus-4-5-20251101')?.input).toBe(5);
    expect(t.priceOf('claude-opus-4-1')?.input).toBe(15);
    expect(t.priceOf('my-local-model')).toBeUndefined();
    // 1M input + 1M output of sonnet: $3 + $15 = 1800 cents; an unknown model at opus-4's $15 + $75.
    expect(t.tokenCostCents([usage('claude-sonnet-4-5', 1e6, 1e6)])).toBeCloseTo(1800, 9);
    expect(t.tokenCostCents([usage('my-local-model', 1e6, 1e6)])).toBeCloseTo(9000, 9);
    expect(t.tokenCostCents([usage(null, 0, 0, 1e6, 1e6)])).toBeCloseTo(1875 + 150, 9);
    // $0.05 per vCPU-hour by default: 2 vCPU for 30 minutes is 5 cents.
    expect(t.sandboxCostCents(3600)).toBeCloseTo(5, 9);
  });

  it('loads an operator file that overrides and adds models, with the configured container rate', async () => {
    const path = file(
      'ok.json',
      JSON.stringify({
        models: {
          'claude-sonnet-4': { input: 2, output: 10, cache_write: 2.5, cache_read: 0.2 },
          'my-local-model': { input: 0.5, output: 1, cache_write: 0, cache_read: 0 },
        },
      }),
    );
    const t = await loadPriceTable({ priceFile: path, containerVcpuHourUsd: 0.12 });
    expect(t.priceOf('claude-sonnet-4-5')).toEqual({
      prefix: 'claude-sonnet-4',
      input: 2,
      output: 10,
      cache_write: 2.5,
      cache_read: 0.2,
    });
    expect(t.tokenCostCents([usage('my-local-model', 1e6, 1e6)])).toBeCloseTo(150, 9);
    expect(t.list()).toHaveLength(LIST_PRICES.length + 1);
    expect(t.sandboxCostCents(3600)).toBeCloseTo(12, 9);
    expect((await loadPriceTable({ containerVcpuHourUsd: 0.05 })).priceOf('claude-sonnet-4-5')?.input).toBe(3);
  });

  it('refuses a file it cannot read or that does not match the format, naming the field', async () => {
    await expect(loadPriceTable({ priceFile: join(dir, 'missing.json'), containerVcpuHourUsd: 0 })).rejects.toThrow(
      ConfigError,
    );
    await expect(
      loadPriceTable({ priceFile: file('bad.json', '{"models": '), containerVcpuHourUsd: 0 }),
    ).rejects.toThrow(/cannot be read as JSON/);
    const negative = file(
      'neg.json',
      JSON.stringify({ models: { m: { input: -1, output: 1, cache_write: 1, cache_read: 1 } } }),
    );
    await expect(loadPriceTable({ priceFile: negative, containerVcpuHourUsd: 0 })).rejects.toThrow(/models\.m\.input/);
    const missing = file('part.json', JSON.stringify({ models: { m: { input: 1, output: 1 } } }));
    await expect(loadPriceTable({ priceFile: missing, containerVcpuHourUsd: 0 })).rejects.toThrow(
      /models\.m\.cache_write/,
    );
    const extra = file('extra.json', JSON.stringify({ models: {}, currency: 'EUR' }));
    await expect(loadPriceTable({ priceFile: extra, containerVcpuHourUsd: 0 })).rejects.toThrow(/currency/);
  });
});
