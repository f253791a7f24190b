import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VaultCipher, VaultCryptoError, credentialAad, masterKey, type SealedSecret } from './crypto.js';

const aad = credentialAad('vcrd_01TEST');

function flip(b64: string, byte = 0): string {
  const b = Buffer.from(b64, 'base64');
  b[byte] = b[byte]! ^ 0x01;
  return b.toString('base64');
}

describe('VaultCipher (AES-256-GCM)', () => {
  const cipher = new VaultCipher(masterKey(randomBytes(32)));
  const secret = 'sk-live-0123456789abcdef-ünïcode';

  it('round-trips, with a fresh nonce every seal and no plaintext in the sealed form', () => {
    const a = cipher.seal(secret, aad);
    const b = cipher.seal(secret, aad);
    expect(cipher.open(a, aad)).toBe(secret);
    expect(cipher.open(b, aad)).toBe(secret);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(Buffer.from(a.nonce, 'base64')).toHaveLength(12);
    expect(Buffer.from(a.tag, 'base64')).toHaveLength(16);
    expect(a.key_id).toBe(cipher.currentKeyId);
    expect(JSON.stringify(a)).not.toContain('sk-live');
    expect(Buffer.from(a.ciphertext, 'base64').toString('latin1')).not.toContain('sk-live');
  });

  it('refuses a tampered ciphertext, tag or nonce', () => {
    const s = cipher.seal(secret, aad);
    const bad: SealedSecret[] = [
      { ...s, ciphertext: flip(s.ciphertext, 3) },
      { ...s, tag: flip(s.tag, 15) },
      { ...s, nonce: flip(s.nonce, 11) },
      { ...s, nonce: Buffer.alloc(8).toString('base64') },
    ];
    for (const b of bad) expect(() => cipher.open(b, aad)).toThrow(VaultCryptoError);
  });

  it('refuses a ciphertext moved to another credential (wrong AAD)', () => {
    const s = cipher.seal(secret, aad);
    expect(() => cipher.open(s, credentialAad('vcrd_01OTHER'))).toThrow(/failed authentication/);
  });

  it('refuses to open with a different key, even one that claims the same key id', () => {
    const s = cipher.seal(secret, aad);
    const other = new VaultCipher(masterKey(randomBytes(32)));
    expect(() => other.open(s, aad)).toThrow(/was not started with/);
    expect(() => other.open({ ...s, key_id: other.currentKeyId }, aad)).toThrow(/failed authentication/);
  });

  it('opens secrets sealed by an older key of the ring while sealing with the current one', () => {
    const oldKey = masterKey(randomBytes(32));
    const sealedOld = new VaultCipher(oldKey).seal(secret, aad);
    const rotated = new VaultCipher(masterKey(randomBytes(32)), [oldKey]);
    expect(rotated.open(sealedOld, aad)).toBe(secret);
    expect(rotated.seal(secret, aad).key_id).not.toBe(oldKey.id);
  });

  it('derives a stable key id that is not the key and rejects keys of the wrong length', () => {
    const raw = randomBytes(32);
    expect(masterKey(raw).id).toBe(masterKey(raw).id);
    expect(masterKey(raw).id).toMatch(/^[0-9a-f]{16}$/);
    expect(raw.toString('hex')).not.toContain(masterKey(raw).id);
    expect(() => masterKey(randomBytes(16))).toThrow(/32 bytes/);
  });
});
