import { describe, expect, it } from 'vitest';
import { createLogger, SecretScrubber } from './log.js';

describe('logger', () => {
  it('writes one JSON line per record with child fields, honouring the level', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l) }).child({ session_id: 'sesn_x' });
    log.debug('hidden');
    log.info('shown', { n: 1 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'shown', session_id: 'sesn_x', n: 1 });
  });

  it('never prints a gateway token, by key or by value', () => {
    const lines: string[] = [];
    const scrubber = new SecretScrubber();
    const log = createLogger({ level: 'debug', write: (l) => lines.push(l), scrubber });
    scrubber.add('tok_abcdefghijklmnop');
    log.info('config', { gateway_token: 'anything', env: { ANTHROPIC_API_KEY: 'k' } });
    log.info('cli stderr', { line: 'key was tok_abcdefghijklmnop!' });
    log.error('failed', { err: new Error('with tok_abcdefghijklmnop inside') });
    const all = lines.join('');
    expect(all).not.toContain('tok_abcdefghijklmnop');
    expect(all).not.toContain('anything');
    expect(all).toContain('[redacted]');
  });
});
