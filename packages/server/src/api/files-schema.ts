import { z } from 'zod';
import { limit } from './common.js';

/** Request shapes of the Files API routes (`client.beta.files.*`). */

const fileId = z.string().regex(/^file_[0-9A-Za-z]{1,64}$/, "file ids look like 'file_…'");

/** `GET /v1/files`: `limit`, `page`, and the SDK's `ids[]` (qs brackets) and `scope_id`. */
export const FileListQuerySchema = z.object({
  limit: limit(1000, 20),
  page: z.string().max(2048).optional(),
  'ids[]': z.union([fileId, z.array(fileId).max(100)]).optional(),
  scope_id: z.string().max(128).optional(),
});

/**
 * A stored file name: the base name the client sent, 1..255 bytes, no path separators and no control characters
 * (it ends up in a `content-disposition` header and in CLI output).
 */
export const FilenameSchema = z
  .string()
  .min(1, 'the file part needs a filename')
  .refine((n) => Buffer.byteLength(n) <= 255, 'filename is at most 255 bytes')
  // eslint-disable-next-line no-control-regex
  .refine((n) => !/[\u0000-\u001f\u007f/\\]/.test(n), 'filename must not contain /, \\ or control characters')
  .refine((n) => n !== '.' && n !== '..', "filename must not be '.' or '..'");
