import { Readable } from 'node:stream';
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import type { SessionRecord } from '../store/store.js';
import { listDir, openRegular, removeAt, TooLargeError, writeFileAt } from '../workspace/ops.js';
import { SafeRoot, splitRelative, UnsafePathError } from '../workspace/safe-path.js';
import { tarStream } from '../workspace/tar.js';
import { bool, checkId } from './common.js';
import type { ApiContext, RouteModule } from './context.js';
import { loadSession } from './tenancy.js';
import { parseInput } from './validate.js';

const IdParams = z.object({ id: z.string() });
const PathQuery = z.object({ path: z.string().max(4096).default('') });
const ListQuery = PathQuery.extend({
  recursive: bool.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});
const DeleteQuery = z.object({ path: z.string().min(1).max(4096), recursive: bool.optional() });

/**
 * Berth extension: the files of a session's workspace, read and written on the host while the sandbox runs (or
 * after it exited, as long as its workspace still exists). All path handling goes through workspace/safe-path.ts:
 * the sandbox is treated as hostile and may plant symlinks at any time.
 */
export const workspaceFileRoutes: RouteModule = (app, ctx) => {
  void app.register(async (scope) => {
    // Uploads are raw bytes, streamed to disk under their own limit (not parsed, so bodyLimit does not apply).
    scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    routes(scope, ctx);
  });
};

const routes: RouteModule = (app, ctx) => {
  const base = '/v1/berth/sessions/:id/files';

  app.get(base, async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const q = parseInput(ListQuery, req.query, 'query');
    const parts = pathOf(q.path);
    const ws = await workspaceOf(ctx, req, id);
    const r = await listDir(ws.root, parts, { recursive: q.recursive ?? false, max: q.limit }).catch(rethrow);
    return { data: r.entries, path: parts.join('/'), truncated: r.truncated };
  });

  app.get(`${base}/content`, async (req, reply) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const parts = pathOf(parseInput(PathQuery, req.query, 'query').path);
    const ws = await workspaceOf(ctx, req, id);
    const { file, size } = await openRegular(ws.root, parts).catch(rethrow);
    // Exactly the size seen at open: a file still growing is cut there, so content-length stays true. An empty file
    // gets an empty stream (createReadStream refuses `end: -1`, which answered a 500).
    if (size === 0) await file.close();
    const stream = size === 0 ? Readable.from([]) : file.createReadStream({ end: size - 1 });
    return download(reply, stream, size, 'application/octet-stream', parts[parts.length - 1]!);
  });

  app.put(`${base}/content`, async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const parts = pathOf(parseInput(PathQuery, req.query, 'query').path);
    const limit = ctx.config.maxWorkspaceUploadBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) throw tooLarge(limit);
    const body = req.body as NodeJS.ReadableStream | undefined;
    if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') {
      throw new ApiError(
        'unsupported_media_type',
        'Send the file as the raw request body with content-type application/octet-stream.',
      );
    }
    const ws = await workspaceOf(ctx, req, id, 'write');
    const size = await writeFileAt(ws.root, parts, body as Readable, { uid: ws.uid, gid: ws.uid }, limit).catch(
      rethrow,
    );
    return { type: 'workspace_file', path: parts.join('/'), size_bytes: size };
  });

  app.delete(base, async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const q = parseInput(DeleteQuery, req.query, 'query');
    const parts = pathOf(q.path);
    const ws = await workspaceOf(ctx, req, id, 'write');
    await removeAt(ws.root, parts, q.recursive ?? false).catch(rethrow);
    return { type: 'workspace_file_deleted', path: parts.join('/') };
  });

  app.get(`${base}/archive`, async (req, reply) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const parts = pathOf(parseInput(PathQuery, req.query, 'query').path);
    const ws = await workspaceOf(ctx, req, id);
    // Opened once before answering, so a bad path is a clean 4xx rather than a broken stream.
    await (await ws.root.openDir(parts).catch(rethrow)).close();
    const name = parts.length ? parts[parts.length - 1]! : 'workspace';
    void reply
      .header('content-type', 'application/x-tar')
      .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(`${name}.tar`)}`);
    return reply.send(tarStream(ws.root, parts, name));
  });
};

function pathOf(p: string): string[] {
  try {
    return splitRelative(p);
  } catch (err) {
    return rethrow(err);
  }
}

/**
 * The session's workspace on the host and the uid its files belong to. Once its sandbox is gone, the artifacts an
 * ephemeral session kept, read-only. 409 when there is neither.
 */
async function workspaceOf(
  ctx: ApiContext,
  req: FastifyRequest,
  id: string,
  mode: 'read' | 'write' = 'read',
): Promise<{ root: SafeRoot; uid: number }> {
  checkId('session', 'sesn_', id);
  const s: SessionRecord = await loadSession(req, id);
  const driver = ctx.sandboxDrivers.get((s.berth.driver as string | undefined) ?? 'bwrap');
  // An ended session's sandbox may still be on its way out: it is never served (or written) once the session ended.
  const ended = s.status === 'terminated' || s.sandbox_state === 'stopped';
  const info = s.sandbox_id && driver && !ended ? await driver.inspect(s.sandbox_id) : undefined;
  if (!info) {
    const kept = ended ? await ctx.sessions.artifactsOf(id) : undefined;
    if (kept && mode === 'read') return { root: await SafeRoot.open(kept), uid: 0 };
    if (kept)
      throw new ApiError(
        'workspace_unavailable',
        `Session '${id}' has ended; only the artifacts it kept (berth.lifecycle.keep) remain, and they are read-only.`,
        {},
        false,
      );
    const why =
      s.sandbox_state === 'starting' || s.sandbox_state === 'resuming'
        ? 'its sandbox is still starting; retry in a moment'
        : s.sandbox_state === 'hibernated' || s.sandbox_state === 'hibernating'
          ? `it is hibernated: resume it (POST /v1/berth/sessions/${id}/resume, or send it a message), then retry`
          : 'its sandbox was removed with its workspace (the session ended or was archived)';
    // Only a sandbox still starting will have a workspace later; the SDK retries 409 unless told not to.
    const retry = s.sandbox_state === 'starting' || s.sandbox_state === 'resuming';
    throw new ApiError(
      'workspace_unavailable',
      `Session '${id}' has no workspace to read: ${why}.`,
      {},
      retry,
      retry ? 1 : undefined,
    );
  }
  const root = await SafeRoot.open(info.workspaceDir).catch(() => {
    throw new ApiError('workspace_unavailable', `The workspace of session '${id}' is gone from this host.`, {}, false);
  });
  return { root, uid: info.hostUid };
}

function download(reply: FastifyReply, body: NodeJS.ReadableStream, size: number, type: string, name: string) {
  void reply
    .header('content-type', type)
    .header('content-length', String(size))
    .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(name)}`);
  return reply.send(body);
}

function tooLarge(limit: number): ApiError {
  return new ApiError(
    'file_too_large',
    `The upload is larger than ${limit} bytes (--max-workspace-upload-bytes). Send a smaller file or split it.`,
    { max_bytes: limit },
  );
}

/** Maps path-safety and filesystem failures onto the error registry. */
function rethrow(err: unknown): never {
  if (err instanceof UnsafePathError) {
    if (err.kind === 'not_found')
      throw new ApiError('not_found', `${err.message}. List the directory to see what exists.`);
    if (err.kind === 'invalid' || err.kind === 'symlink' || err.kind === 'escape')
      throw new ApiError('unsafe_path', `Path refused: ${err.message}.`);
    throw new ApiError('invalid_request', `${err.message}.`);
  }
  if (err instanceof TooLargeError) throw tooLarge(err.limit);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    throw new ApiError('workspace_full', 'The workspace disk is full (its quota is reached). Free space first.');
  if (code === 'ENAMETOOLONG') throw new ApiError('unsafe_path', 'Path refused: a name is too long.');
  throw err;
}
