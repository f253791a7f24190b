import type { SealedSecret, VaultCipher } from '../vaults/crypto.js';
import type { WebhookEndpointRecord } from '../store/store.js';

/** The AAD of an endpoint's signing secret: binds the ciphertext to that endpoint (ADR webhooks). */
export function webhookSecretAad(endpointId: string): string {
  return `berth/webhook-secret/v1/${endpointId}`;
}

/**
 * Seals and opens webhook signing secrets with the vault cipher (AES-256-GCM under the vault master key). A signing
 * secret cannot be stored as a hash: berthd needs the key itself to compute each HMAC.
 */
export class WebhookSecrets {
  constructor(private readonly cipher: VaultCipher) {}

  seal(endpointId: string, secret: string): SealedSecret {
    return this.cipher.seal(secret, webhookSecretAad(endpointId));
  }

  /**
   * The secrets to sign with at `nowIso`: the current one, and the one a rotation replaced until its grace period
   * ends (receivers still holding it keep verifying). Throws VaultCryptoError if a secret does not open.
   */
  signingSecrets(endpoint: WebhookEndpointRecord, nowIso: string): string[] {
    const aad = webhookSecretAad(endpoint.id);
    const out = [this.cipher.open(endpoint.secret, aad)];
    const prev = endpoint.previous_secret;
    if (prev && endpoint.previous_secret_expires_at && endpoint.previous_secret_expires_at > nowIso) {
      out.push(this.cipher.open(prev, aad));
    }
    return out;
  }
}
