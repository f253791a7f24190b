import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SANDBOX_PATHS } from '@berth/protocol';
import { ConfigError } from '../config.js';

/** The system CA bundle on Debian-family hosts (mirrored read-only into every sandbox with /etc/ssl). */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Extra CA certificates every sandbox trusts, in the two forms tools expect. */
export interface SandboxTrust {
  /** Only the extra certificates (NODE_EXTRA_CA_CERTS adds them to Node's own store). */
  extraPem: string;
  /** The system bundle plus the extra certificates (for tools whose variable replaces the store). */
  bundlePem: string;
}

const CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads and checks `--sandbox-ca-file`: every block must be a parseable X.509 certificate, and there must be one. */
export async function loadSandboxTrust(file: string, systemBundle = SYSTEM_CA_BUNDLE): Promise<SandboxTrust> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--sandbox-ca-file ${file} cannot be read (${(err as NodeJS.ErrnoException).code}).`);
  }
  const certs = text.match(CERT) ?? [];
  if (certs.length === 0) throw new ConfigError(`--sandbox-ca-file ${file} holds no PEM certificate.`);
  for (const [i, pem] of certs.entries()) {
    try {
      new X509Certificate(pem);
    } catch {
      throw new ConfigError(`--sandbox-ca-file ${file}: certificate ${i + 1} is not valid X.509.`);
    }
  }
  const extraPem = `${certs.join('\n')}\n`;
  const system = await readFile(systemBundle, 'utf8').catch(() => '');
  return { extraPem, bundlePem: `${system.trimEnd()}\n${extraPem}` };
}

const EXTRA = 'extra-ca.pem';
const BUNDLE = 'ca-bundle.pem';

/** Writes the trust files into a sandbox's run dir (mounted read-only at SANDBOX_PATHS.runDir). */
export async function writeSandboxTrust(runDir: string, trust: SandboxTrust): Promise<void> {
  await writeFile(join(runDir, EXTRA), trust.extraPem, { mode: 0o644 });
  await writeFile(join(runDir, BUNDLE), trust.bundlePem, { mode: 0o644 });
}

/** The environment that makes the sandbox's tools use the trust files. */
export function sandboxTrustEnv(): Record<string, string> {
  const bundle = `${SANDBOX_PATHS.runDir}/${BUNDLE}`;
  return {
    NODE_EXTRA_CA_CERTS: `${SANDBOX_PATHS.runDir}/${EXTRA}`,
    SSL_CERT_FILE: bundle,
    CURL_CA_BUNDLE: bundle,
    REQUESTS_CA_BUNDLE: bundle,
    GIT_SSL_CAINFO: bundle,
  };
}
