/** A Files API upload as the store keeps it (the content lives in the blob directory, not the database). */
export interface FileRecord {
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
}
