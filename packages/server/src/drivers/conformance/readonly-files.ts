import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newId, SANDBOX_PATHS } from '@berth/protocol';
import { expect, it } from 'vitest';
import type { SuiteContext } from './context.js';

/** `spec.readOnlyFiles`: readable inside at their destination, unchangeable, and checked before anything starts. */
export function readOnlyFileTests(ctx: SuiteContext): void {
  it('shows readOnlyFiles at their destination, readable but unchangeable by the sandbox', async () => {
    // Root-only on the host: the sandbox reads the driver's copy, never this file.
    const source = join(ctx.h.root, 'upload.txt');
    await writeFile(source, 'uploaded content\n', { mode: 0o600 });
    const dest = '/mnt/session/uploads/file_x';
    const p = await ctx.h.probe(
      `
      const f = ${JSON.stringify(dest)};
      await report({
        read: tryDo(() => fs.readFileSync(f, 'utf8')),
        write: tryDo(() => { fs.writeFileSync(f, 'changed'); return 'ok'; }),
        append: tryDo(() => { fs.appendFileSync(f, 'more'); return 'ok'; }),
        unlink: tryDo(() => { fs.unlinkSync(f); return 'ok'; }),
        rename: tryDo(() => { fs.renameSync(f, f + '.moved'); return 'ok'; }),
        chmod: tryDo(() => { fs.chmodSync(f, 0o666); return 'ok'; }),
        sibling: tryDo(() => { fs.writeFileSync('/mnt/session/uploads/new', 'x'); return 'ok'; }),
        after: tryDo(() => fs.readFileSync(f, 'utf8')),
      });
    `,
      { readOnlyFiles: [{ source, dest }] },
    );
    const m = await p.next();
    expect(m.read).toBe('uploaded content\n');
    for (const k of ['write', 'append', 'unlink', 'rename', 'chmod', 'sibling'])
      expect(m[k], k).toMatch(/^error:(EROFS|EACCES|EPERM|EBUSY)$/);
    expect(m.after).toBe('uploaded content\n');
    expect(await readFile(source, 'utf8')).toBe('uploaded content\n');
  });

  it('refuses readOnlyFiles destinations over system paths, the workspace, or duplicated, before starting', async () => {
    const source = join(ctx.h.root, 'upload2.txt');
    await writeFile(source, 'x');
    for (const dest of [
      '/etc/passwd',
      '/proc/x',
      SANDBOX_PATHS.runDir + '/x',
      '/mnt/../etc/x',
      'mnt/x',
      '/usr/bin/node',
      SANDBOX_PATHS.workspace + '/x',
    ]) {
      await expect(
        ctx.dut.driver.create({
          id: newId('sandbox'),
          command: ['/bin/true'],
          env: {},
          runDir: ctx.h.root,
          installDir: ctx.dut.installDir,
          resources: {},
          readOnlyFiles: [{ source, dest }],
        }),
        dest,
      ).rejects.toMatchObject({ code: 'invalid_spec' });
    }
    await expect(
      ctx.dut.driver.create({
        id: newId('sandbox'),
        command: ['/bin/true'],
        env: {},
        runDir: ctx.h.root,
        installDir: ctx.dut.installDir,
        resources: {},
        readOnlyFiles: [
          { source, dest: '/mnt/a' },
          { source, dest: '/mnt/a' },
        ],
      }),
    ).rejects.toMatchObject({ code: 'invalid_spec' });
  });
}
