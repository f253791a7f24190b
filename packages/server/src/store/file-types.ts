/** A Files API upload as the store keeps it (the content lives in the blob directory, not the database). */
export interface FileRecord {
  /** The owning tenant: set on every record the store returns; absent on create means the `default` tenant. */
  tenant_id?: string;
  /** `file_…` */
  id: string;
  filename: string;
  mime_type: string;
  size_bytes: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
  downloadable: boolean;
  created_at: string;
}

/** Options of `listFiles`: newest first, keyset pages, optionally only some ids. */
export interface FileListOptions {
  limit: number;
  page?: string | undefined;
  ids?: string[] | undefined;
  /** Only this tenant's files (the tenant-scoped store always sets it). */
  tenant?: string | undefined;
}
