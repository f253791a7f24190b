import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId } from '@berth/protocol';

/** One preview: a port of one session's sandbox, reachable at its own host with its own token. */
export interface Preview {
  id: string;
  sessionId: string;
  port: number;
  /** sha256 of the token; the token itself is shown once, at creation. */
  tokenHash: Buffer;
  createdAt: string;
}

/** Most previews one session may have. */
export const MAX_PREVIEWS_PER_SESSION = 16;

const hash = (token: string) => createHash('sha256').update(token).digest();

/**
 * The host label of a preview: `<port>-<session ulid, lower case>`. Browsers lower-case host names and DNS labels
 * allow no `_`, so the session id's ULID (case-insensitive Crockford base32) is used without its prefix.
 */
export function hostLabel(sessionId: string, port: number): string {
  return `${port}-${sessionId.slice('sesn_'.length).toLowerCase()}`;
}

/** The session id and port a host label names, or null. */
export function parseHostLabel(label: string): { sessionId: string; port: number } | null {
  const m = /^([1-9][0-9]{0,4})-([0-9a-hjkmnp-tv-z]{26})$/.exec(label.toLowerCase());
  if (!m) return null;
  const port = Number(m[1]);
  if (port > 65535) return null;
  return { sessionId: `sesn_${m[2]!.toUpperCase()}`, port };
}

/**
 * The previews berthd serves, in memory: they live as long as their session's sandbox (and this berthd process).
 * Creating a preview for a port that already has one replaces it, so its old token stops working.
 */
export class PreviewRegistry {
  private readonly bySession = new Map<string, Map<number, Preview>>();

  /** Creates (or replaces) the preview of `port`; returns it with its token. Throws when the session has too many. */
  create(sessionId: string, port: number, now: string): { preview: Preview; token: string } | 'limit' {
    const mine = this.bySession.get(sessionId) ?? new Map<number, Preview>();
    if (!mine.has(port) && mine.size >= MAX_PREVIEWS_PER_SESSION) return 'limit';
    const token = `bpt_${randomBytes(32).toString('base64url')}`;
    const preview: Preview = { id: newId('preview'), sessionId, port, tokenHash: hash(token), createdAt: now };
    mine.set(port, preview);
    this.bySession.set(sessionId, mine);
    return { preview, token };
  }

  list(sessionId: string): Preview[] {
    return [...(this.bySession.get(sessionId)?.values() ?? [])].sort((a, b) => a.port - b.port);
  }

  get(sessionId: string, previewId: string): Preview | undefined {
    return this.list(sessionId).find((p) => p.id === previewId);
  }

  /** The preview served at (session, port), if any. */
  at(sessionId: string, port: number): Preview | undefined {
    return this.bySession.get(sessionId)?.get(port);
  }

  /** True when `token` is the token of `preview` (constant-time on the hashes). */
  matches(preview: Preview, token: string): boolean {
    return timingSafeEqual(preview.tokenHash, hash(token));
  }

  revoke(sessionId: string, previewId: string): boolean {
    const mine = this.bySession.get(sessionId);
    const p = this.get(sessionId, previewId);
    if (!mine || !p) return false;
    mine.delete(p.port);
    return true;
  }

  /** Drops every preview of a session (its sandbox is gone). */
  dropSession(sessionId: string): void {
    this.bySession.delete(sessionId);
  }
}
