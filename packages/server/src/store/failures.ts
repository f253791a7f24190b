import { ApiError } from '../errors.js';

/**
 * Store (and blob) write failures the operator must fix, as opposed to bugs: a full or read-only disk, an I/O
 * error, a database that refuses writes. They surface as 503 `storage_unavailable` (nothing was stored; retry once
 * space is freed), never as a silent loss or a "this is a bug" 500.
 */
const SQLITE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|PROTOCOL|NOLFS)/;
/** PostgreSQL classes 53 (insufficient resources: disk full, out of memory) and 58 (system / I/O errors). */
const PG = /^(53|58)[0-9A-Z]{3}$/;
const ERRNO = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

export function isStorageFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (SQLITE.test(code) || PG.test(code) || ERRNO.has(code))) return true;
    // SQLite rolls a transaction back by itself on SQLITE_FULL / IOERR / NOMEM; Kysely's own ROLLBACK then fails
    // with this message and the original error is lost, so the message is the only sign left.
    if (
      code === 'SQLITE_ERROR' &&
      String((e as { message?: unknown }).message).includes('cannot rollback - no transaction is active')
    )
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The API's answer to a storage failure: 503, retryable, and what the operator must do. */
export function storageUnavailable(): ApiError {
  return new ApiError(
    'storage_unavailable',
    'Berth could not write to its store (disk full, read-only or failing); nothing of this request was stored. ' +
      'Retry later; the operator must free space or fix the disk.',
    {},
    true,
    5,
  );
}
