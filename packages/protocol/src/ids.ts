import { randomBytes } from 'node:crypto';

/** Crockford base32, the ULID alphabet: sortable, no ambiguous letters. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
let lastRandom: number[] = [];

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/**
 * A ULID (26 chars): 48-bit millisecond time then 80 random bits, monotonic within one process.
 * Ids sort by creation time, which keeps cursors and logs readable.
 */
export function ulid(now: number = Date.now()): string {
  if (now <= lastTime && lastRandom.length === 16) {
    // Same millisecond (or clock went back): increment the random part so ids stay strictly increasing.
    for (let i = 15; i >= 0; i--) {
      const v = lastRandom[i]!;
      if (v < 31) {
        lastRandom[i] = v + 1;
        break;
      }
      lastRandom[i] = 0;
    }
    now = lastTime;
  } else {
    const bytes = randomBytes(16);
    lastRandom = Array.from(bytes, (b) => b % 32);
    lastTime = now;
  }
  return encodeTime(now) + lastRandom.map((v) => ALPHABET[v]!).join('');
}

/** The id prefixes of the Managed Agents API plus Berth's own. */
export const ID_PREFIX = {
  agent: 'agent_',
  environment: 'env_',
  session: 'sesn_',
  event: 'sevt_',
  sandbox: 'sbx_',
  sharedSandbox: 'shr_',
  request: 'req_',
  modelRequest: 'mreq_',
  sandboxUsage: 'sbu_',
  egress: 'egr_',
  vault: 'vlt_',
  vaultCredential: 'vcrd_',
  file: 'file_',
  sessionResource: 'sesrsc_',
  preview: 'prev_',
  trigger: 'trg_',
  triggerRun: 'trgrun_',
  webhook: 'whk_',
  webhookMessage: 'whmsg_',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

/** A new id of the given kind, e.g. `newId('session')` → `sesn_01J…`. */
export function newId(kind: IdKind): string {
  return ID_PREFIX[kind] + ulid();
}

/** True when `id` looks like an id of `kind` (prefix plus 26 ULID chars). */
export function isId(kind: IdKind, id: string): boolean {
  return id.startsWith(ID_PREFIX[kind]) && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id.slice(ID_PREFIX[kind].length));
}

/** Regex for event ids, used to validate ids that come out of a sandbox. */
export const EVENT_ID_RE = /^sevt_[0-9A-HJKMNP-TV-Z]{26}$/;
