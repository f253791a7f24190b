import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './config.js';

/**
 * The bootstrap admin key: from config if given; else the one saved in `<dataDir>/admin.key`; else a new one,
 * saved with mode 0600 and reported through `onGenerated` exactly once (the caller prints it).
 */
export async function resolveAdminKey(
  dataDir: string,
  configured: string | undefined,
  onGenerated: (key: string, file: string) => void,
): Promise<string> {
  if (configured) return configured;
  const file = join(dataDir, 'admin.key');
  try {
    const saved = (await readFile(file, 'utf8')).trim();
    if (saved.length >= 16) return saved;
    throw new ConfigError(
      `${file} holds no valid admin key (16 characters or more): fix or delete it, or set BERTH_ADMIN_KEY.`,
    );
  } catch (err) {
    if (err instanceof ConfigError || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = `bsk_admin_${randomBytes(24).toString('base64url')}`;
  await writeFile(file, key + '\n', { mode: 0o600, flag: 'wx' });
  onGenerated(key, file);
  return key;
}

/** A constant-time check of a presented key against the admin key. */
export function keyChecker(adminKey: string): (presented: string) => boolean {
  const want = createHash('sha256').update(adminKey).digest();
  return (presented) => timingSafeEqual(createHash('sha256').update(presented).digest(), want);
}
