import { newId } from '@berth/protocol';
import { describe, expect, it } from 'vitest';
import { hostLabel, MAX_PREVIEWS_PER_SESSION, parseHostLabel, PreviewRegistry } from './registry.js';

describe('preview registry', () => {
  it('maps (session, port) to a DNS-safe host label and back, refusing anything else', () => {
    const id = newId('session');
    const label = hostLabel(id, 8080);
    expect(label).toMatch(/^8080-[0-9a-z]{26}$/);
    expect(parseHostLabel(label)).toEqual({ sessionId: id, port: 8080 });
    expect(parseHostLabel(label.toUpperCase())).toEqual({ sessionId: id, port: 8080 });
    for (const bad of [
      '',
      '8080',
      `0-${label.slice(5)}`,
      `65536-${label.slice(5)}`,
      `08080-${label.slice(5)}`,
      `${label}x`,
    ]) {
      expect(parseHostLabel(bad), bad).toBeNull();
    }
  });

  it('checks tokens per preview, replaces the preview of a port, revokes, and caps previews per session', () => {
    const r = new PreviewRegistry();
    const [s1, s2] = [newId('session'), newId('session')];
    const a = r.create(s1, 8080, 'now');
    const b = r.create(s2, 8080, 'now');
    if (a === 'limit' || b === 'limit') throw new Error('unexpected limit');
    expect(r.matches(a.preview, a.token)).toBe(true);
    expect(r.matches(a.preview, b.token)).toBe(false);
    const again = r.create(s1, 8080, 'later');
    if (again === 'limit') throw new Error('unexpected limit');
    expect(r.at(s1, 8080)).toBe(again.preview);
    expect(r.matches(r.at(s1, 8080)!, a.token)).toBe(false);
    expect(r.revoke(s1, a.preview.id)).toBe(false);
    expect(r.revoke(s1, again.preview.id)).toBe(true);
    expect(r.list(s1)).toEqual([]);
    for (let p = 1; p <= MAX_PREVIEWS_PER_SESSION; p++) expect(r.create(s1, p, 'now')).not.toBe('limit');
    expect(r.create(s1, 9999, 'now')).toBe('limit');
    r.dropSession(s1);
    expect(r.list(s1)).toEqual([]);
    expect(r.list(s2)).toHaveLength(1);
  });
});
