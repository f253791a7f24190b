import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Anthropic from '@anthropic-ai/sdk';

type Print = (l: string) => void;

/** `berth files …`: the Files API through the official SDK. */
export const fileCommands = {
  async upload(client: Anthropic, print: Print, path: string): Promise<void> {
    await stat(path); // a clear ENOENT before any request
    const f = await client.beta.files.upload({ file: createReadStream(path) });
    print(`${f.id}  ${f.size_bytes} bytes  ${f.mime_type}  ${f.filename}`);
  },

  async list(client: Anthropic, print: Print, o: { limit: number }): Promise<void> {
    const page = await client.beta.files.list({ limit: o.limit });
    if (page.data.length === 0) print('no files');
    for (const f of page.data) print(`${f.id}  ${String(f.size_bytes).padStart(10)}  ${f.created_at}  ${f.filename}`);
  },

  async get(client: Anthropic, print: Print, id: string): Promise<void> {
    print(JSON.stringify(await client.beta.files.retrieveMetadata(id), null, 2));
  },

  async download(client: Anthropic, print: Print, id: string, o: { output?: string }): Promise<void> {
    const res = await client.beta.files.download(id);
    await save(res, o.output);
    if (o.output) print(`wrote ${o.output}`);
  },

  async delete(client: Anthropic, print: Print, id: string): Promise<void> {
    await client.beta.files.delete(id);
    print(`deleted ${id}`);
  },
};

/** `berth sessions files <id> …`: a session's workspace files (Berth's `/v1/berth/sessions/{id}/files`). */
export const workspaceCommands = {
  async ls(client: Anthropic, print: Print, id: string, path: string, o: { recursive: boolean; json: boolean }) {
    const q = { path, ...(o.recursive ? { recursive: 'true' } : {}), limit: '10000' };
    const res = (await (await raw(client, 'GET', filesPath(id), q)).json()) as ListBody;
    for (const e of res.data) {
      if (o.json) print(JSON.stringify(e));
      else {
        const kind = e.type === 'directory' ? 'd' : e.type === 'symlink' ? 'l' : e.type === 'file' ? '-' : '?';
        const link = e.link_target !== undefined ? ` -> ${e.link_target}` : '';
        print(`${kind} ${e.mode.toString(8).padStart(4, '0')} ${String(e.size_bytes).padStart(10)}  ${e.path}${link}`);
      }
    }
    if (res.truncated) print('(listing truncated)');
  },

  async get(client: Anthropic, print: Print, id: string, path: string, o: { output?: string }) {
    await save(await raw(client, 'GET', `${filesPath(id)}/content`, { path }), o.output);
    if (o.output) print(`wrote ${o.output}`);
  },

  async put(client: Anthropic, print: Print, id: string, local: string, remote: string | undefined) {
    const size = (await stat(local)).size;
    const body = Readable.toWeb(createReadStream(local)) as ReadableStream;
    const target = remote ?? basename(local);
    const res = await raw(client, 'PUT', `${filesPath(id)}/content`, { path: target }, body, size);
    const r = (await res.json()) as { path: string; size_bytes: number };
    print(`wrote ${r.path} (${r.size_bytes} bytes)`);
  },

  async rm(client: Anthropic, print: Print, id: string, path: string, o: { recursive: boolean }) {
    await raw(client, 'DELETE', filesPath(id), { path, ...(o.recursive ? { recursive: 'true' } : {}) });
    print(`removed ${path}`);
  },

  async tar(client: Anthropic, print: Print, id: string, path: string, o: { output?: string }) {
    await save(await raw(client, 'GET', `${filesPath(id)}/archive`, { path }), o.output);
    if (o.output) print(`wrote ${o.output}`);
  },
};

interface ListBody {
  data: { path: string; type: string; size_bytes: number; mode: number; link_target?: string }[];
  truncated: boolean;
}

const filesPath = (id: string) => `/v1/berth/sessions/${encodeURIComponent(id)}/files`;

/**
 * A request with a raw (non-JSON) body or response, with the SDK client's URL and key. Errors are thrown in the
 * SDK's shape (`status`, `error`), so the CLI prints the server's message the same way.
 */
async function raw(
  client: Anthropic,
  method: string,
  path: string,
  query: Record<string, string>,
  body?: ReadableStream,
  size?: number,
): Promise<Response> {
  const url = new URL(client.baseURL.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const headers: Record<string, string> = { 'x-api-key': client.apiKey ?? '' };
  if (body) {
    headers['content-type'] = 'application/octet-stream';
    if (size !== undefined) headers['content-length'] = String(size);
  }
  const res = await fetch(url, { method, headers, ...(body ? { body, duplex: 'half' } : {}) });
  if (!res.ok) {
    const text = await res.text();
    let error: unknown = { error: { type: 'error', message: text } };
    try {
      error = JSON.parse(text);
    } catch {
      // not JSON: the text is the message
    }
    throw Object.assign(new Error(`${res.status} ${text}`), { status: res.status, error });
  }
  return res;
}

/** Writes a response body to `output`, or to stdout when none is given. */
async function save(res: Response, output: string | undefined): Promise<void> {
  if (!res.body) return;
  const src = Readable.fromWeb(res.body);
  await pipeline(src, output ? createWriteStream(output, { flags: 'wx' }) : process.stdout);
}
