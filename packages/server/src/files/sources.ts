import { readFile } from 'node:fs/promises';
import { ApiError, notFound } from '../errors.js';
import type { Store } from '../store/store.js';
import type { FileBlobs } from './blobs.js';

/** Largest file a message may reference: the Messages API's request limit leaves room for little more. */
const MAX_INLINE_BYTES = 20 * 1024 * 1024;

type Block = { type: string; source?: { type?: string; file_id?: string; [k: string]: unknown }; [k: string]: unknown };

/**
 * Replaces `{type:'file', file_id}` sources in user content with the file's bytes (`base64`, or `text` for a
 * plain-text document): the model behind the gateway has never seen Berth's files. Text-only content is returned
 * as is. Throws 404 for an unknown file and 400 for one the block cannot carry.
 */
export async function inlineFileSources<T>(content: T[], deps: { store: Store; blobs: FileBlobs }): Promise<T[]> {
  if (!content.some((b) => (b as Block).source?.type === 'file')) return content;
  return Promise.all(
    content.map(async (raw) => {
      const b = raw as Block;
      if (b.source?.type !== 'file') return raw;
      const id = String(b.source.file_id);
      const file = await deps.store.getFile(id);
      if (!file) throw notFound('file', id);
      const image = b.type === 'image';
      const text = !image && file.mime_type.startsWith('text/');
      if (image ? !file.mime_type.startsWith('image/') : !(text || file.mime_type === 'application/pdf')) {
        throw new ApiError(
          'invalid_request',
          `File '${id}' is ${file.mime_type}; ${image ? 'an image block needs an image file' : 'a document block needs a PDF or a text file'}. Upload a file of that type, or send it as another block.`,
        );
      }
      if (file.size_bytes > MAX_INLINE_BYTES) {
        throw new ApiError(
          'invalid_request',
          `File '${id}' is ${file.size_bytes} bytes; a message may reference files up to ${MAX_INLINE_BYTES} bytes. Mount it as a file resource instead.`,
        );
      }
      const bytes = await readFile(deps.blobs.path(id));
      const source = text
        ? { type: 'text', media_type: 'text/plain', data: bytes.toString('utf8') }
        : { type: 'base64', media_type: file.mime_type, data: bytes.toString('base64') };
      return { ...b, source } as T;
    }),
  );
}
