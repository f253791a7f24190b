import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encryption at rest of vault secrets: AES-256-GCM (node:crypto) under a master key from the config.
 *
 * - Every seal draws a fresh random 12-byte nonce, so one key never reuses a nonce in practice (2^-32 collision
 *   odds only after ~2^32 seals under one key, far beyond a vault's lifetime of writes).
 * - The 16-byte auth tag is stored and checked: a flipped bit anywhere fails to open.
 * - The additional authenticated data (AAD) names the credential the secret belongs to, so a ciphertext copied to
 *   another row (by someone who can write the database but has no key) fails to open there.
 * - Each sealed secret records the id of the key that sealed it, so the master key can be rotated later: a keyring
 *   holds the current key (used to seal) and older keys (only used to open).
 * See docs/adr/vault-encryption-at-rest.md.
 */

/** A 256-bit master key and its id (a fingerprint that reveals nothing about the key). */
export interface MasterKey {
  id: string;
  key: Buffer;
}

/** What the store keeps for one sealed secret; every field is base64 (the id is hex). */
export interface SealedSecret {
  /** Id of the master key that sealed it. */
  key_id: string;
  nonce: string;
  ciphertext: string;
  tag: string;
}

/** Thrown when a sealed secret cannot be opened (unknown key, wrong AAD, tampering). Never carries secret data. */
export class VaultCryptoError extends Error {}

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

/** A master key with its id. The id is a truncated SHA-256 of a domain-separated key, so it is stable and public. */
export function masterKey(key: Buffer): MasterKey {
  if (key.length !== KEY_BYTES)
    throw new VaultCryptoError(`a vault master key is ${KEY_BYTES} bytes, not ${key.length}`);
  const id = createHash('sha256').update('berth-vault-key-id\0').update(key).digest('hex').slice(0, 16);
  return { id, key: Buffer.from(key) };
}

/** The AAD of a credential's secret: binds a ciphertext to the one credential it was sealed for. */
export function credentialAad(credentialId: string): string {
  return `berth/vault-credential/v1/${credentialId}`;
}

/**
 * Seals and opens secrets with a keyring: `current` seals, any key of the ring (current or older) opens what it
 * sealed. Holds the keys in memory only; it never logs or serialises them.
 */
export class VaultCipher {
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly current: MasterKey,
    older: readonly MasterKey[] = [],
  ) {
    for (const k of [current, ...older]) this.keys.set(k.id, k.key);
  }

  /** Id of the key new seals use. */
  get currentKeyId(): string {
    return this.current.id;
  }

  /** Encrypts `plaintext` (UTF-8) bound to `aad`. */
  seal(plaintext: string, aad: string): SealedSecret {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.current.key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      key_id: this.current.id,
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  }

  /** Decrypts a sealed secret; throws VaultCryptoError unless key, AAD, nonce, ciphertext and tag all match. */
  open(sealed: SealedSecret, aad: string): string {
    const key = this.keys.get(sealed.key_id);
    if (!key) {
      throw new VaultCryptoError(
        `this secret was sealed with vault master key '${sealed.key_id}', which berthd was not started with`,
      );
    }
    const nonce = Buffer.from(sealed.nonce, 'base64');
    const tag = Buffer.from(sealed.tag, 'base64');
    if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) {
      throw new VaultCryptoError('the sealed secret is malformed (nonce or tag has the wrong length)');
    }
    try {
      const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new VaultCryptoError('the sealed secret failed authentication (tampered, moved, or a different key)');
    }
  }
}
