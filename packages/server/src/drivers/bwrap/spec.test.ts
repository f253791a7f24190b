import { newId } from '@berth/protocol';
import { describe, expect, it } from 'vitest';
import type { DriverCapabilities, SandboxSpec } from '../driver.js';
import { SandboxDriverError } from '../errors.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkResources, isSameOrAncestor, resolveSpecDir, validateSpec } from './spec.js';
import { UidAllocator } from './uids.js';

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id: newId('sandbox'),
  command: ['/usr/bin/node', '/opt/berth/runner.mjs'],
  env: { A: '1' },
  runDir: '/var/lib/berth/run/x',
  installDir: '/opt/berth',
  resources: {},
  ...over,
});
const caps: DriverCapabilities = {
  memoryLimit: true,
  cpuLimit: true,
  pidsLimit: false,
  diskLimit: false,
  survivesRestart: true,
  snapshot: true,
};
const code = (fn: () => void): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as SandboxDriverError).code;
  }
  return undefined;
};

describe('spec validation', () => {
  it('accepts a well-formed spec', () => {
    expect(code(() => validateSpec(spec()))).toBeUndefined();
    expect(code(() => validateSpec(spec({ installPaths: ['node_modules', 'packages/runner/dist'] })))).toBeUndefined();
  });

  it('refuses installPaths that are absolute, escape installDir or are not normalised', () => {
    for (const p of ['/etc', '../secrets', 'a/../../b', './x', 'a//b', '', 'a/./b'])
      expect({ p, code: code(() => validateSpec(spec({ installPaths: [p] }))) }).toEqual({ p, code: 'invalid_spec' });
  });

  it('refuses bad ids, argv, env names and relative or NUL-carrying paths as invalid_spec', () => {
    for (const bad of [
      { id: 'sbx_short' },
      { id: `../${newId('sandbox')}` },
      { command: [] },
      { command: ['/bin/x', 'a\0b'] },
      { env: { 'A=B': '1' } },
      { env: { '': '1' } },
      { runDir: 'run' },
      { installDir: '/opt/\0' },
    ])
      expect(code(() => validateSpec(spec(bad as Partial<SandboxSpec>)))).toBe('invalid_spec');
  });

  it('refuses what it cannot enforce as unsupported_resource, and nonsense as invalid_spec', () => {
    expect(code(() => checkResources({ diskMib: 100 }, caps))).toBe('unsupported_resource');
    expect(() => checkResources({ diskMib: 100 }, caps, 'no loop here')).toThrow(/no loop here/);
    expect(code(() => checkResources({ diskMib: 100 }, { ...caps, diskLimit: true }))).toBeUndefined();
    for (const diskMib of [10, 63, 64.5, 2_000_000, Number.NaN])
      expect(code(() => checkResources({ diskMib }, { ...caps, diskLimit: true }))).toBe('invalid_spec');
    expect(code(() => checkResources({ pids: 10 }, caps))).toBe('unsupported_resource');
    expect(code(() => checkResources({ memoryMib: 0 }, caps))).toBe('invalid_spec');
    expect(code(() => checkResources({ cpus: Number.NaN }, caps))).toBe('invalid_spec');
    expect(code(() => checkResources({ memoryMib: 256, cpus: 0.5 }, caps))).toBeUndefined();
  });

  it('knows ancestry by path segments', () => {
    expect(isSameOrAncestor('/var/lib', '/var/lib/berth')).toBe(true);
    expect(isSameOrAncestor('/', '/x')).toBe(true);
    expect(isSameOrAncestor('/var/li', '/var/lib')).toBe(false);
  });
});

describe('uid allocation', () => {
  it('hands out distinct uids round-robin, skips reserved ones and reports exhaustion', () => {
    const a = new UidAllocator({ start: 200_000, count: 3 });
    a.reserve(200_001);
    expect([a.allocate(), a.allocate()]).toEqual([200_000, 200_002]);
    expect(() => a.allocate()).toThrow(/in use/);
    a.release(200_000);
    expect(a.allocate()).toBe(200_000);
  });

  it('refuses ranges that would include system users or overflow', () => {
    expect(() => new UidAllocator({ start: 0, count: 10 })).toThrow(SandboxDriverError);
    expect(() => new UidAllocator({ start: 2 ** 31 - 5, count: 10 })).toThrow(SandboxDriverError);
  });
});

describe('resolveSpecDir', () => {
  it('refuses an installDir around the sandboxes dir unless only paths outside it are exposed', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-spec-'));
    try {
      const sandboxes = join(root, '.berth', 'sandboxes');
      mkdirSync(sandboxes, { recursive: true });
      mkdirSync(join(root, 'node_modules'));
      await expect(resolveSpecDir(root, 'installDir', sandboxes)).rejects.toThrow(/overlaps the sandboxes directory/);
      await expect(resolveSpecDir(root, 'installDir', sandboxes, ['node_modules'])).resolves.toBe(root);
      await expect(resolveSpecDir(root, 'installDir', sandboxes, ['.berth'])).rejects.toThrow(/overlaps/);
      await expect(resolveSpecDir(root, 'installDir', sandboxes, ['missing'])).rejects.toThrow(
        /not an existing directory/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
