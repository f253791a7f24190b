import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * API key format: `bsk_live_` + 8 visible characters + 40 secret characters (base62: 48 random characters, about 285 bits).
 * `bsk_live_XXXXXXXX` is the key's prefix: shown in lists and the audit log, and how the store finds the key. Only
 * the SHA-256 of the whole key is stored; a presented key is hashed and compared in constant time.
 */
export const KEY_PREFIX_HEAD = 'bsk_live_';
const VISIBLE = 8;
const SECRET = 40;
const KEY_RE = new RegExp(`^${KEY_PREFIX_HEAD}([A-Za-z0-9]{${VISIBLE}})[A-Za-z0-9]{${SECRET}}$`);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A fresh key with its prefix and hash. */
export function generateKey(): { key: string; prefix: string; hash: string } {
  const key = KEY_PREFIX_HEAD + base62(VISIBLE + SECRET);
  return { key, prefix: key.slice(0, KEY_PREFIX_HEAD.length + VISIBLE), hash: hashKey(key) };
}

/** The prefix of a presented key, or undefined when it is not in the `bsk_live_` format. */
export function prefixOf(presented: string): string | undefined {
  const m = KEY_RE.exec(presented);
  return m ? KEY_PREFIX_HEAD + m[1] : undefined;
}

/** Hex SHA-256 of a key (what the store keeps). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Constant-time comparison of a presented key with a stored hash. */
export function keyMatches(presented: string, storedHash: string): boolean {
  const want = Buffer.from(storedHash, 'hex');
  const got = createHash('sha256').update(presented).digest();
  return want.length === got.length && timingSafeEqual(got, want);
}

/** An id for a tenant or key: `<kind>_` + 20 base62 characters. */
export function newTenancyId(kind: 'tenant' | 'key' | 'audit'): string {
  return `${kind}_${base62(20)}`;
}

function base62(n: number): string {
  let out = '';
  // randomInt draws without modulo bias.
  for (let i = 0; i < n; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}
