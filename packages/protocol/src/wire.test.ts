import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('@berth/protocol/wire', () => {
  it('pulls in no schema library, so the runner can send hello before loading zod', async () => {
    const r = await build({
      entryPoints: [new URL('./wire.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'node',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((p) => p.includes('ndjson.ts'))).toBe(true);
    expect(inputs.filter((p) => p.includes('node_modules'))).toEqual([]);
  });
});
