import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { toFile } from '@anthropic-ai/sdk';
import { Parser } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAndEnv, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

const MARKER = `file-content-${randomBytes(6).toString('hex')}`;
const MOUNT = '/mnt/data/notes.txt';

const scenarios = [
  {
    name: 'read-mounted',
    turns: [
      { content: [{ type: 'tool_use', name: 'Bash', input: { command: `cat ${MOUNT}` } }] },
      {
        content: [
          {
            type: 'tool_use',
            name: 'Bash',
            input: {
              command: `echo overwritten > ${MOUNT}; echo "write=$?"; rm -f ${MOUNT}; echo "rm=$?"; chmod 666 ${MOUNT}; echo "chmod=$?"`,
            },
          },
        ],
      },
      { content: [{ type: 'text', text: 'Done.' }] },
    ],
  },
  {
    name: 'plant',
    turns: [
      {
        content: [
          {
            type: 'tool_use',
            name: 'Bash',
            input: {
              command:
                'mkdir -p /workspace/real && echo inside > /workspace/real/a.txt && ln -s /etc/passwd /workspace/passwd && ' +
                'ln -s /etc /workspace/etcdir && ln -s real /workspace/reallink && mkfifo /workspace/fifo && echo planted',
            },
          },
        ],
      },
      { content: [{ type: 'text', text: 'Planted.' }] },
    ],
  },
];

describe.skipIf(e2eSkipReason() !== false)('files: Files API, file resources, workspace files route', () => {
  let t: TestBerth;
  beforeAll(async () => {
    t = await startTestBerth({ scenarios, config: { maxFileBytes: 12 * 1048576, maxWorkspaceUploadBytes: 32 * 1024 } });
  });
  afterAll(async () => t?.close());

  /** An authenticated raw request to berthd (for the Berth extension routes with raw bodies). */
  const raw = (path: string, init: RequestInit = {}) =>
    fetch(`${t.app.url}${path}`, {
      ...init,
      headers: { 'x-api-key': t.app.adminKey, ...(init.headers as Record<string, string> | undefined) },
    });

  it('uploads, lists, retrieves, downloads and deletes files with the official SDK', async () => {
    const { client } = t;
    const up = await client.beta.files.upload({ file: await toFile(Buffer.from('hello files\n'), 'hello.txt') });
    expect(up).toMatchObject({ type: 'file', filename: 'hello.txt', mime_type: 'text/plain', size_bytes: 12 });
    expect(up.id).toMatch(/^file_/);
    expect(Date.parse(up.created_at)).not.toBeNaN();
    const second = await client.beta.files.upload({
      file: await toFile(Buffer.from('{"a":1}'), 'data.json', { type: 'application/json' }),
    });
    expect(await client.beta.files.retrieveMetadata(up.id)).toEqual(up);
    const ids: string[] = [];
    for await (const f of client.beta.files.list({ limit: 1 })) ids.push(f.id);
    expect(ids.slice(0, 2)).toEqual([second.id, up.id]);
    const dl = await client.beta.files.download(up.id);
    expect(await dl.text()).toBe('hello files\n');
    expect(await client.beta.files.delete(second.id)).toEqual({ id: second.id, type: 'file_deleted' });
    await expect(client.beta.files.retrieveMetadata(second.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.beta.files.download(second.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses an oversized upload with 413 file_too_large and keeps nothing', async () => {
    const before = (await t.client.beta.files.list({ limit: 100 })).data.length;
    const err = await t.client.beta.files
      .upload({ file: await toFile(Buffer.alloc(12 * 1048576 + 1, 1), 'big.bin') })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 413, error: { error: { details: { error_code: 'file_too_large' } } } });
    expect((await t.client.beta.files.list({ limit: 100 })).data.length).toBe(before);
    expect(readdirSync(join(t.dataDir, 'files')).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    // The file limit, not the JSON body limit (--max-body-bytes, 8 MiB), governs uploads.
    const nine = await t.client.beta.files.upload({ file: await toFile(Buffer.alloc(9 * 1048576, 7), 'nine.bin') });
    expect(nine).toMatchObject({ size_bytes: 9 * 1048576, mime_type: 'application/octet-stream' });
    await t.client.beta.files.delete(nine.id);
    const form = new FormData();
    form.append('nope', new Blob(['x']), 'x.txt');
    const wrong = await raw('/v1/files', { method: 'POST', body: form });
    expect(wrong.status).toBe(400);
  });

  it('mounts a file resource read-only: the agent reads it (the model sees it) and cannot change it', async () => {
    const { client, app } = t;
    const file = await client.beta.files.upload({ file: await toFile(Buffer.from(`${MARKER}\n`), 'notes.txt') });
    const { agentId, envId } = await agentAndEnv(client);
    const session = await client.beta.sessions.create({
      agent: agentId,
      environment_id: envId,
      resources: [{ type: 'file', file_id: file.id, mount_path: MOUNT }],
    });
    const res = session.resources[0] as unknown as Record<string, unknown>;
    expect(res).toMatchObject({ type: 'file', file_id: file.id, mount_path: MOUNT });
    expect(res.id).toMatch(/^sesrsc_/);
    const listed = await client.beta.sessions.resources.list(session.id);
    expect(listed.data).toEqual([res]);
    expect(await client.beta.sessions.resources.retrieve(res.id as string, { session_id: session.id })).toEqual(res);

    const before = app.scriptedModel!.requests.length;
    const events = (await collectTurn(client, session.id, () =>
      say(client, session.id, '[scenario:read-mounted] read it'),
    )) as Ev[];
    const results = events.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
    expect(results[0]).toContain(MARKER);
    // The content reached the model: a later request carries the tool result.
    const seen = app.scriptedModel!.requests.slice(before).some((r) => JSON.stringify(r.body).includes(MARKER));
    expect(seen).toBe(true);
    // Writing, removing and chmod all fail inside the sandbox.
    expect(results[1]).toMatch(/write=[1-9]/);
    expect(results[1]).toMatch(/rm=[1-9]/);
    expect(results[1]).toMatch(/chmod=[1-9]/);
    expect(results[1]).toMatch(/Read-only file system|Permission denied/);
    // The upload itself is untouched.
    expect(await (await client.beta.files.download(file.id)).text()).toBe(`${MARKER}\n`);
    await client.beta.sessions.delete(session.id);
  });

  it('validates file resources: mount paths, missing files, duplicates; add and delete on a session', async () => {
    const { client } = t;
    const file = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'x.txt') });
    const { agentId, envId } = await agentAndEnv(client);
    const create = (resources: unknown[]) =>
      client.beta.sessions
        .create({ agent: agentId, environment_id: envId, resources: resources as never })
        .catch((e: unknown) => e as { status: number; error: { error: { message: string; details: object } } });
    for (const mount_path of [
      'relative/x',
      '/mnt/../etc/x',
      '/proc/x',
      '/etc/passwd',
      '/run/berth/x',
      '/usr/x',
      '/workspace/x',
      '/mnt//x',
      '/',
    ]) {
      const err = (await create([{ type: 'file', file_id: file.id, mount_path }])) as { status: number };
      expect(err.status, mount_path).toBe(400);
    }
    const dup = (await create([
      { type: 'file', file_id: file.id, mount_path: '/mnt/a' },
      { type: 'file', file_id: file.id, mount_path: '/mnt/a' },
    ])) as { status: number; error: { error: { details: { error_code: string } } } };
    expect(dup).toMatchObject({ status: 400, error: { error: { details: { error_code: 'invalid_mount_path' } } } });
    expect(await create([{ type: 'file', file_id: 'file_missing' }])).toMatchObject({ status: 404 });

    const s = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    const added = await client.beta.sessions.resources.add(s.id, { type: 'file', file_id: file.id });
    expect(added).toMatchObject({ type: 'file', file_id: file.id, mount_path: `/mnt/session/uploads/${file.id}` });
    await expect(client.beta.sessions.resources.add(s.id, { type: 'file', file_id: file.id })).rejects.toMatchObject({
      status: 400,
    });
    expect((await client.beta.sessions.retrieve(s.id)).resources).toEqual([added]);
    expect(await client.beta.sessions.resources.delete(added.id, { session_id: s.id })).toEqual({
      id: added.id,
      type: 'session_resource_deleted',
    });
    expect((await client.beta.sessions.resources.list(s.id)).data).toEqual([]);
    await expect(client.beta.sessions.resources.retrieve(added.id, { session_id: s.id })).rejects.toMatchObject({
      status: 404,
    });
    await client.beta.sessions.delete(s.id);
  });

  it('workspace files route: round trip, and every traversal or symlink escape is refused', async () => {
    const { client } = t;
    const { agentId, envId } = await agentAndEnv(client);
    const s = await client.beta.sessions.create({ agent: agentId, environment_id: envId });
    await collectTurn(client, s.id, () => say(client, s.id, '[scenario:plant] plant links'));
    const base = `/v1/berth/sessions/${s.id}/files`;
    const q = (p: string) => `?path=${encodeURIComponent(p)}`;

    // Upload, list, download, archive, delete.
    const put = await raw(`${base}/content${q('up/load/new.txt')}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'uploaded\n',
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ path: 'up/load/new.txt', size_bytes: 9 });
    const list = (await (await raw(`${base}?recursive=true`)).json()) as { data: { path: string; type: string }[] };
    const byPath = new Map(list.data.map((e) => [e.path, e.type]));
    expect(byPath.get('up/load/new.txt')).toBe('file');
    expect(byPath.get('passwd')).toBe('symlink');
    expect(byPath.get('etcdir')).toBe('symlink');
    expect(byPath.has('etcdir/passwd')).toBe(false); // never followed
    expect(await (await raw(`${base}/content${q('real/a.txt')}`)).text()).toBe('inside\n');
    expect(await (await raw(`${base}/content${q('up/load/new.txt')}`)).text()).toBe('uploaded\n');

    const tarBytes = Buffer.from(await (await raw(`${base}/archive`)).arrayBuffer());
    const entries = new Map<string, { type: string; linkpath?: string; body: string }>();
    const parser = new Parser({
      onReadEntry: (e) => {
        const chunks: Buffer[] = [];
        e.on('data', (c: Buffer) => chunks.push(c));
        e.on('end', () =>
          entries.set(e.path, { type: e.type, linkpath: e.header.linkpath, body: Buffer.concat(chunks).toString() }),
        );
      },
    });
    await new Promise<void>((res, rej) => {
      parser.on('end', res);
      parser.on('error', rej);
      parser.end(tarBytes);
    });
    expect(entries.get('workspace/real/a.txt')).toMatchObject({ type: 'File', body: 'inside\n' });
    expect(entries.get('workspace/passwd')).toMatchObject({ type: 'SymbolicLink', linkpath: '/etc/passwd' });
    expect(entries.get('workspace/etcdir')).toMatchObject({ type: 'SymbolicLink', linkpath: '/etc' });
    expect([...entries.keys()].some((k) => k.startsWith('workspace/etcdir/'))).toBe(false);
    expect(entries.has('workspace/fifo')).toBe(false); // FIFOs are skipped, never opened for reading
    expect(tarBytes.toString('latin1')).not.toContain('root:x:0:0'); // the host's /etc/passwd never followed

    const del = await raw(`${base}${q('up')}&recursive=true`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await raw(`${base}/content${q('up/load/new.txt')}`)).status).toBe(404);

    // Refusals: traversal, absolute paths, a symlink to a host file, a symlinked parent dir, a FIFO.
    const refused = async (path: string, method = 'GET', sub = '/content') => {
      const r = await raw(`${base}${sub}${q(path)}`, {
        method,
        ...(method === 'PUT' ? { headers: { 'content-type': 'application/octet-stream' }, body: 'x' } : {}),
      });
      return {
        status: r.status,
        body: (await r.json()) as { error: { message: string; details: { error_code: string } } },
      };
    };
    for (const p of ['../x', 'real/../../x', '/etc/passwd', 'passwd', 'etcdir/passwd', 'reallink/a.txt']) {
      const r = await refused(p);
      expect(r.status, p).toBe(400);
      expect(r.body.error.details.error_code, p).toBe('unsafe_path');
    }
    expect((await refused('fifo')).status).toBe(400);
    for (const p of ['etcdir/berth-escape', '../escape', 'passwd']) {
      const r = await refused(p, 'PUT');
      if (p === 'passwd') {
        // Writing over a symlink replaces the link itself; the host file it pointed to is untouched.
        expect(r.status).toBe(200);
      } else expect(r.status, p).toBe(400);
    }
    const { existsSync, readFileSync } = await import('node:fs');
    expect(existsSync('/etc/berth-escape')).toBe(false);
    expect(readFileSync('/etc/passwd', 'utf8')).toContain('root:');
    expect((await refused('etcdir', 'GET', '/archive')).status).toBe(400);
    expect((await refused('etcdir/passwd', 'DELETE', '')).status).toBe(400);

    // Oversized upload: 413 with the limit.
    const big = await raw(`${base}/content${q('big.bin')}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(32 * 1024 + 1),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { details: { error_code: string } } }).error.details.error_code).toBe(
      'file_too_large',
    );

    // Once the session is archived its sandbox and workspace are gone: a clear 409.
    await client.beta.sessions.archive(s.id);
    const gone = await raw(base);
    expect(gone.status).toBe(409);
    expect(((await gone.json()) as { error: { details: { error_code: string } } }).error.details.error_code).toBe(
      'workspace_unavailable',
    );
  });
});
