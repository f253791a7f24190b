import type { FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import { mediaTypeOf } from '../files/mime.js';
import type { FileRecord } from '../store/store.js';
import { checkId } from './common.js';
import type { RouteModule } from './context.js';
import { storeOf } from './tenancy.js';
import { FileListQuerySchema, FilenameSchema } from './files-schema.js';
import { parseInput } from './validate.js';

/** The wire form of a file (SDK `BetaFileMetadata`). */
export function serializeFile(f: FileRecord): object {
  return {
    id: f.id,
    type: 'file',
    filename: f.filename,
    mime_type: f.mime_type,
    size_bytes: f.size_bytes,
    created_at: f.created_at,
    downloadable: f.downloadable,
  };
}

const IdParams = z.object({ id: z.string() });

/**
 * The Files API: upload (multipart, as `client.beta.files.upload({file})` sends it), list, retrieve metadata,
 * download, delete. Metadata lives in the store, content in `FileBlobs`. Registered in its own scope because only
 * these routes accept multipart bodies.
 */
export const fileRoutes: RouteModule = (app, ctx) => {
  void app.register(async (scope) => {
    await scope.register(multipart, {
      limits: { fileSize: ctx.config.maxFileBytes, files: 1, fields: 4, parts: 5, fieldSize: 1024, headerPairs: 20 },
      throwFileSizeLimit: true,
    });
    fileScope(scope, ctx);
  });
};

const fileScope: RouteModule = (app, { files: blobs, clock, config }) => {
  const load = async (req: FastifyRequest, id: string): Promise<FileRecord> => {
    checkId('file', 'file_', id);
    const f = await storeOf(req).getFile(id);
    if (!f) throw notFound('file', id);
    return f;
  };

  app.post('/v1/files', async (req) => {
    const store = storeOf(req);
    if (!req.isMultipart()) {
      throw new ApiError(
        'unsupported_media_type',
        'Upload files as multipart/form-data with the content in a part named "file" (client.beta.files.upload({ file })).',
      );
    }
    const id = newId('file');
    let record: FileRecord | undefined;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'field') {
          throw new ApiError(
            'invalid_request',
            part.fieldname === 'expires_in_seconds'
              ? 'expires_in_seconds is not supported by Berth: files are kept until deleted. Leave it out.'
              : `Unknown form field '${part.fieldname.slice(0, 64)}'. Send only the "file" part.`,
          );
        }
        if (part.fieldname !== 'file') {
          throw new ApiError('invalid_request', `Send the content in a part named "file", not '${part.fieldname}'.`);
        }
        const filename = parseInput(FilenameSchema, part.filename, 'file');
        const written = await blobs.write(id, part.file).catch((err: unknown) => {
          throw uploadError(err, config.maxFileBytes) ?? err;
        });
        record = {
          id,
          filename,
          mime_type: mediaTypeOf(part.mimetype, filename),
          size_bytes: written.size,
          sha256: written.sha256,
          downloadable: true,
          created_at: clock(),
        };
      }
      if (!record) throw new ApiError('invalid_request', 'The form has no "file" part. Send the content as "file".');
      await store.createFile(record);
    } catch (err) {
      await blobs.remove(id);
      throw uploadError(err, config.maxFileBytes) ?? err;
    }
    return serializeFile(record);
  });

  app.get('/v1/files', async (req) => {
    const store = storeOf(req);
    const q = parseInput(FileListQuerySchema, req.query, 'query');
    // Berth files have no scope (session outputs are read through the workspace files route instead).
    if (q.scope_id !== undefined) return { data: [], next_page: null };
    const ids = q['ids[]'];
    const page = await store.listFiles({
      limit: q.limit,
      page: q.page,
      ids: ids === undefined ? undefined : Array.isArray(ids) ? ids : [ids],
    });
    return { data: page.data.map(serializeFile), next_page: page.next };
  });

  app.get('/v1/files/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    return serializeFile(await load(req, id));
  });

  app.get('/v1/files/:id/content', async (req, reply) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const f = await load(req, id);
    const body = await blobs.open(f.id).catch(() => {
      throw new ApiError('not_found', `The content of file '${id}' is missing on this server. Upload it again.`);
    });
    void reply
      .header('content-type', f.mime_type)
      .header('content-length', String(f.size_bytes))
      .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(f.filename)}`);
    return reply.send(body);
  });

  app.delete('/v1/files/:id', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    // Sessions that mounted the file keep their own copy (see drivers' readOnlyFiles), so it can go at once.
    await store.deleteFile(id);
    await blobs.remove(id);
    return { id, type: 'file_deleted' };
  });
};

/** The multipart limit errors as the registry's 413 (with the limit), unreadable forms as a 400. */
function uploadError(err: unknown, max: number): ApiError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') {
    return new ApiError(
      'file_too_large',
      `The file is larger than this server accepts (${max} bytes, --max-file-bytes). Upload a smaller file.`,
      { max_bytes: max },
    );
  }
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new ApiError('invalid_request', 'Send exactly one part, named "file", per upload.');
  }
  // busboy rejects a form it cannot parse (no boundary, truncated body) with plain Errors that have no code.
  if (
    err instanceof Error &&
    !(err instanceof ApiError) &&
    /^Multipart: |unexpected end of multipart data|^Malformed part header|^The needle /i.test(err.message)
  ) {
    return new ApiError(
      'invalid_request',
      `The multipart/form-data body could not be read (${err.message}). Send a complete form with a boundary in the content-type.`,
    );
  }
  return undefined;
}
