import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_FIELDS } from '@berth/server';
import { renderConfigReference, withConfigReference } from './config-docs.js';

const root = resolve(import.meta.dirname, '../../..');

describe('generated configuration reference', () => {
  it('lists every config field with its flag and environment variable', () => {
    const table = renderConfigReference();
    for (const f of Object.values(CONFIG_FIELDS)) expect(table).toContain(`\`${f.env}\``);
    expect(table).toContain('`--data-dir`');
  });

  it('is up to date in README.md and docs/config.md (run `npm run docs:config` after changing the schema)', () => {
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    expect(withConfigReference(readme)).toBe(readme);
    expect(readFileSync(resolve(root, 'docs/config.md'), 'utf8')).toContain(renderConfigReference());
  });
});
