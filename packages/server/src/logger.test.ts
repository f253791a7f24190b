import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('logger redaction', () => {
  it('redacts vault secret fields up to three levels down', () => {
    let out = '';
    const log = createLogger(
      'info',
      new Writable({
        write(c: Buffer, _e, cb) {
          out += c.toString();
          cb();
        },
      }),
    );
    log.info({ token: 's0', body: { auth: { token: 's1', access_token: 's2' } } }, 'x');
    log.info({ auth: { refresh: { refresh_token: 's3', client_secret: 's4' }, secret_value: 's5' } }, 'y');
    log.info({ cred: { accessToken: 's6', refresh: { refreshToken: 's7', clientSecret: 's8' } } }, 'z');
    log.info({ vaultMasterKey: 's9', config: { vaultMasterKey: 's10' } }, 'w');
    // A github_repository resource's token, as it sits in a session create body.
    log.info({ body: { resources: [{ url: 'u', authorization_token: 's11' }] } }, 'v');
    for (let i = 0; i <= 11; i++) expect(out).not.toContain(`"s${i}"`);
    expect(out.match(/\[redacted\]/g)?.length).toBe(12);
  });
});
