import { expect, it } from 'vitest';
import { newId } from '@berth/protocol';
import type { Store } from './store.js';
import type { FileRecord } from './file-types.js';

/** The Files API cases of the store conformance suite; called inside its describe block. */
export function fileConformance(ctx: { store: () => Store; now: () => string }): void {
  const file = (now: string, name = 'a.txt', size = 12): FileRecord => ({
    id: newId('file'),
    tenant_id: 'default',
    filename: name,
    mime_type: 'text/plain',
    size_bytes: size,
    sha256: 'ab'.repeat(32),
    downloadable: true,
    created_at: now,
  });

  it('stores file metadata faithfully (sizes beyond 2^31 too), pages newest first and filters by ids', async () => {
    const store = ctx.store();
    const made: FileRecord[] = [];
    for (let i = 0; i < 3; i++) {
      const f = file(ctx.now(), `f${i}.txt`, i === 2 ? 5 * 1024 ** 3 : i);
      made.push(f);
      await store.createFile(f);
      expect(await store.getFile(f.id)).toEqual(f);
    }
    const p1 = await store.listFiles({ limit: 2 });
    expect(p1.data.map((f) => f.id)).toEqual([made[2]!.id, made[1]!.id]);
    const p2 = await store.listFiles({ limit: 2, page: p1.next! });
    expect(p2.data.map((f) => f.id)).toEqual([made[0]!.id]);
    expect(p2.next).toBeNull();
    const some = await store.listFiles({ limit: 10, ids: [made[0]!.id, made[2]!.id, 'file_missing'] });
    expect(some.data.map((f) => f.id)).toEqual([made[2]!.id, made[0]!.id]);
    expect((await store.listFiles({ limit: 10, ids: [] })).data).toEqual([]);
  });

  it('deletes a file once', async () => {
    const store = ctx.store();
    const f = { ...file(ctx.now()), downloadable: false };
    await store.createFile(f);
    expect(await store.getFile(f.id)).toEqual(f);
    expect(await store.deleteFile(f.id)).toBe(true);
    expect(await store.getFile(f.id)).toBeUndefined();
    expect(await store.deleteFile(f.id)).toBe(false);
  });
}
