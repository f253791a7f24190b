import { newId } from '@berth/protocol';
import { z } from 'zod';
import { ApiError, notFound } from '../errors.js';
import { parseInput } from '../api/validate.js';
import { mountPathProblem } from '../drivers/readonly-files.js';
import type { ResourceHandler, StoredResource } from './types.js';

/** `{type:'file', file_id, mount_path?}` (SDK `ResourceAddParams` / the session create's file resource). */
const FileResourceParams = z.strictObject({
  type: z.literal('file'),
  file_id: z.string().regex(/^file_[0-9A-Za-z]{1,64}$/, "file ids look like 'file_…'"),
  mount_path: z.string().max(1024).nullable().optional(),
});

/** Where a file resource is mounted when the request names no `mount_path`. */
export const defaultFileMountPath = (fileId: string): string => `/mnt/session/uploads/${fileId}`;

/**
 * `file` resources: a Files API upload shown read-only inside the sandbox at `mount_path`. The drivers copy the
 * content into the sandbox's own directory when it starts (see drivers/readonly-files.ts).
 */
export const fileResource: ResourceHandler = {
  addable: true,
  async prepare(params, { store, clock }): Promise<StoredResource> {
    const p = parseInput(FileResourceParams, params, 'resource');
    const mountPath = p.mount_path ?? defaultFileMountPath(p.file_id);
    const problem = mountPathProblem(mountPath);
    if (problem !== undefined) throw new ApiError('invalid_mount_path', `mount_path '${mountPath}' ${problem}.`);
    const file = await store.getFile(p.file_id);
    if (!file) throw notFound('file', p.file_id);
    const now = clock();
    return {
      id: newId('sessionResource'),
      type: 'file',
      file_id: file.id,
      mount_path: mountPath,
      created_at: now,
      updated_at: now,
    };
  },
};
