import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { REDACT_KEYS, createLogger } from './logger.js';

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

describe('logger redaction of every secret field', () => {
  it('hides each REDACT_KEYS field at every depth up to three objects down, and nothing else', () => {
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
    const secrets: string[] = [];
    REDACT_KEYS.forEach((key, i) => {
      const s = (d: number) => {
        const v = `secret-${i}-${d}-${key}`;
        secrets.push(v);
        return v;
      };
      log.info({ [key]: s(0), a: { [key]: s(1) }, b: { c: { [key]: s(2) } }, d: { e: { f: { [key]: s(3) } } } }, key);
    });
    // A real request's shape: its headers, a vault credential body and a run config's environment.
    log.info(
      {
        req: { headers: { authorization: 'Bearer hdr-secret-1', 'x-api-key': 'hdr-secret-2', host: 'kept-value' } },
        body: { auth: { type: 'static_bearer', token: 'hdr-secret-3' } },
        config: { env: { ANTHROPIC_API_KEY: 'hdr-secret-4', PATH: '/usr/bin' } },
        resource: { authorization_token: 'hdr-secret-5' },
      },
      'shapes',
    );
    secrets.push('hdr-secret-1', 'hdr-secret-2', 'hdr-secret-3', 'hdr-secret-4', 'hdr-secret-5');
    for (const s of secrets) expect(out).not.toContain(s);
    expect(out.match(/\[redacted\]/g)?.length).toBe(REDACT_KEYS.length * 4 + 5);
    // What is not a secret stays readable.
    expect(out).toContain('kept-value');
    expect(out).toContain('/usr/bin');
    for (const key of ['gateway_token', 'authorization_token', 'authorization', 'x-api-key', 'apiKey'])
      expect(REDACT_KEYS).toContain(key);
  });
});
