import { extname } from 'node:path';

/** Media types by extension, used when an upload says only `application/octet-stream` (or nothing). */
const BY_EXTENSION: Record<string, string> = {
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.json': 'application/json',
  '.jsonl': 'application/jsonl',
  '.html': 'text/html',
  '.xml': 'application/xml',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.zip': 'application/zip',
  '.tar': 'application/x-tar',
  '.gz': 'application/gzip',
};

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/**
 * The media type recorded for an upload: the part's own type when it is a valid, specific one, else a guess from
 * the file name's extension, else `application/octet-stream`. Parameters (`; charset=…`) are dropped.
 */
export function mediaTypeOf(declared: string | undefined, filename: string): string {
  const base = (declared ?? '').split(';')[0]!.trim().toLowerCase();
  if (MEDIA_TYPE.test(base) && base !== 'application/octet-stream') return base;
  return BY_EXTENSION[extname(filename).toLowerCase()] ?? 'application/octet-stream';
}
