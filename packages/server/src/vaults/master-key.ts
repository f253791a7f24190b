import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../config.js';
import type { Logger } from '../logger.js';
import { KEY_BYTES, masterKey, type MasterKey } from './crypto.js';

/** Where berthd keeps a generated master key when the config supplies none. */
export const GENERATED_KEY_FILE = 'vault.key';

/** Decodes a base64 master key; undefined unless it is canonical base64 of exactly 32 bytes. */
export function decodeMasterKey(text: string): Buffer | undefined {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t) && !/^[A-Za-z0-9_-]+={0,2}$/.test(t)) return undefined;
  const key = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

export interface MasterKeySource {
  dataDir: string;
  /** Base64 key from the config (`BERTH_VAULT_MASTER_KEY`). */
  key?: string | undefined;
  /** File holding the base64 key (`--vault-master-key-file`). */
  keyFile?: string | undefined;
}

/**
 * The vault master key, in this order: the key from the config, the key file from the config, or the generated
 * `<dataDir>/vault.key` (created with mode 0600 on first start). The generated key sits next to the database, so it
 * protects nothing against someone who copies the whole data dir: berthd warns on every start that uses it.
 * Never logs the key.
 */
export async function loadMasterKey(src: MasterKeySource, logger: Logger): Promise<MasterKey> {
  if (src.key !== undefined && src.keyFile !== undefined) {
    throw new ConfigError(
      'Set only one of BERTH_VAULT_MASTER_KEY and --vault-master-key-file (BERTH_VAULT_MASTER_KEY_FILE).',
    );
  }
  if (src.key !== undefined) {
    const key = decodeMasterKey(src.key);
    if (!key) throw new ConfigError(badKey('BERTH_VAULT_MASTER_KEY'));
    return masterKey(key);
  }
  if (src.keyFile !== undefined) {
    const file = resolve(src.keyFile);
    const st = await lstat(file).catch(() => undefined);
    if (!st?.isFile()) throw new ConfigError(`The vault master key file ${file} does not exist or is not a file.`);
    if (st.mode & 0o077) {
      logger.warn({ file }, 'the vault master key file is readable by group or others: chmod 600 it');
    }
    const key = decodeMasterKey(await readFile(file, 'utf8'));
    if (!key) throw new ConfigError(badKey(`the file ${file}`));
    return masterKey(key);
  }
  const file = join(src.dataDir, GENERATED_KEY_FILE);
  const key = await readOrCreate(file);
  logger.warn(
    { file },
    'vault secrets are encrypted with a generated master key stored in the data dir; anyone with the data dir can ' +
      'decrypt them. In production supply the key from elsewhere: --vault-master-key-file or BERTH_VAULT_MASTER_KEY',
  );
  return masterKey(key);
}

async function readOrCreate(file: string): Promise<Buffer> {
  const st = await lstat(file).catch(() => undefined);
  if (st) {
    if (!st.isFile()) throw new ConfigError(`${file} exists but is not a regular file; remove it or supply a key.`);
    const key = decodeMasterKey(await readFile(file, 'utf8'));
    if (!key) throw new ConfigError(badKey(`the file ${file}`));
    return key;
  }
  const key = randomBytes(KEY_BYTES);
  // O_EXCL: never overwrite a key another process just wrote (that would orphan its secrets).
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fh = await open(file, flags, 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') return undefined; // another berthd won the race: use its key
    throw err;
  });
  if (!fh) return readOrCreate(file);
  try {
    await fh.writeFile(`${key.toString('base64')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return key;
}

function badKey(where: string): string {
  return `The vault master key in ${where} must be base64 of exactly ${KEY_BYTES} bytes. Generate one with \`openssl rand -base64 32\`.`;
}
