import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, FilesTable } from './schema.js';
import type { FileListOptions, FileRecord } from './file-types.js';
import type { Page } from './types.js';
import { keysetPage, mapPage } from './query.js';

/** The Files API half of KyselyStore (same code for SQLite and PostgreSQL); KyselyStore delegates here. */
export class KyselyFiles {
  constructor(private readonly db: Kysely<Database>) {}

  async createFile(f: FileRecord): Promise<void> {
    await this.db.insertInto('files').values(toRow(f)).execute();
  }

  async getFile(id: string): Promise<FileRecord | undefined> {
    const r = await this.db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async listFiles(opts: FileListOptions): Promise<Page<FileRecord>> {
    let q = this.db.selectFrom('files').selectAll();
    if (opts.tenant !== undefined) q = q.where('tenant_id', '=', opts.tenant);
    if (opts.ids !== undefined) {
      // An empty id filter matches nothing (SQL `IN ()` is invalid, so it is answered without a query).
      if (opts.ids.length === 0) return { data: [], next: null, prev: null };
      q = q.where('id', 'in', opts.ids);
    }
    return mapPage(await keysetPage(q, 'files', 'desc', opts), fromRow);
  }

  async deleteFile(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('files').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

function toRow(f: FileRecord): Insertable<FilesTable> {
  return { ...f, downloadable: f.downloadable ? 1 : 0 };
}

function fromRow(r: Selectable<FilesTable>): FileRecord {
  return { ...r, size_bytes: Number(r.size_bytes), downloadable: r.downloadable === 1 };
}
