import { describe, expect, it } from 'vitest';
import { generateKey, hashKey, keyMatches, prefixOf } from './keys.js';

describe('API key format', () => {
  it('generates distinct keys whose prefix and hash match, and compares only the whole key', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const k = generateKey();
      expect(k.key).toMatch(/^bsk_live_[A-Za-z0-9]{48}$/);
      expect(prefixOf(k.key)).toBe(k.prefix);
      expect(k.prefix).toBe(k.key.slice(0, 17));
      expect(k.hash).toBe(hashKey(k.key));
      expect(keyMatches(k.key, k.hash)).toBe(true);
      expect(keyMatches(k.key.slice(0, -1) + (k.key.endsWith('x') ? 'y' : 'x'), k.hash)).toBe(false);
      seen.add(k.key);
    }
    expect(seen.size).toBe(200);
  });

  it('recognises only well-formed keys', () => {
    const { key } = generateKey();
    for (const bad of [
      '',
      'bsk_live_',
      key + 'a',
      key.slice(0, -1),
      key.replace('bsk_live_', 'bsk_test_'),
      `${key.slice(0, 20)}-${key.slice(21)}`,
    ]) {
      expect(prefixOf(bad), bad).toBeUndefined();
    }
    expect(keyMatches(key, 'not-hex')).toBe(false);
  });
});
