import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinScenarios, loadScenarioDir, parseScenario, ScenarioError } from './load.js';
import { startScriptedModel } from './server.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scenarios-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ok = { name: 'ok', turns: [{ content: [{ type: 'text', text: 'hi' }] }] };

describe('scenario validation', () => {
  it('ships valid built-ins, including default and write-and-run with an explicit first-turn usage', () => {
    const byName = new Map(builtinScenarios().map((s) => [s.name, s]));
    expect(byName.has('default')).toBe(true);
    const first = byName.get('write-and-run')?.turns[0];
    expect(first && 'usage' in first && first.usage?.input_tokens).toBeGreaterThan(0);
  });

  it('loads every *.json file of a directory and ignores other files', async () => {
    await writeFile(join(dir, 'a.json'), JSON.stringify(ok));
    await writeFile(join(dir, 'b.json'), JSON.stringify({ ...ok, name: 'b', after: 'repeat-last' }));
    await writeFile(join(dir, 'notes.txt'), 'not a scenario');
    expect((await loadScenarioDir(dir)).map((s) => s.name)).toEqual(['ok', 'b']);
  });

  it('names the file and the field of a bad content block', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({ name: 'bad', turns: [ok.turns[0], { content: [{ type: 'text', text: 3 }] }] }),
    );
    const err = await loadScenarioDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScenarioError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain('turns[1].content[0].text: expected string');
  });

  it('reports the error-turn fields when a turn has an error key', () => {
    const bad = { name: 'e', turns: [{ error: { status: 'x', type: 'overloaded_error', message: 'm' } }] };
    expect(() => parseScenario(bad, 'e.json')).toThrow(/^e\.json: turns\[0\]\.error\.status: expected number/);
  });

  it('rejects unknown block types, unknown keys, empty turns and bad names', () => {
    const cases: Array<[unknown, RegExp]> = [
      [
        { name: 'x', turns: [{ content: [{ type: 'image' }] }] },
        /turns\[0\]\.content\[0\]\.type: unknown block type "image"; expected "text"/,
      ],
      [{ name: 'x', turns: [{ content: ok.turns[0]!.content, delay: 5 }] }, /turns\[0\]: Unrecognized key: "delay"/],
      [{ name: 'x', turns: [] }, /turns: Too small/],
      [{ name: 'has space', turns: ok.turns }, /name: must be letters/],
      [{ name: 'x', turns: ok.turns, after: 'loop' }, /after: expected one of/],
      [{ name: 'x', turns: [{ content: [{ type: 'text', text: '' }] }] }, /content\[0\]\.text: Too small/],
    ];
    for (const [value, pattern] of cases) expect(() => parseScenario(value, 'f.json')).toThrow(pattern);
  });

  it('rejects invalid JSON and duplicate names, naming the file', async () => {
    await writeFile(join(dir, 'broken.json'), '{"name":');
    await expect(loadScenarioDir(dir)).rejects.toThrow(/broken\.json: invalid JSON/);
    await rm(join(dir, 'broken.json'));
    await writeFile(join(dir, 'a.json'), JSON.stringify(ok));
    await writeFile(join(dir, 'b.json'), JSON.stringify(ok));
    await expect(loadScenarioDir(dir)).rejects.toThrow(/b\.json: name "ok" is already used by .*a\.json/);
  });

  it('refuses to start with an invalid scenario directory or option', async () => {
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ name: 'bad', turns: [{ content: 'hello' }] }));
    await expect(startScriptedModel({ scenarioDirs: [dir] })).rejects.toThrow(
      /bad\.json: turns\[0\]\.content: expected array/,
    );
    const bad = { name: 'opt', turns: [{ content: [] }] } as never;
    await expect(startScriptedModel({ scenarios: [bad] })).rejects.toThrow(/\(opt\): turns\[0\]\.content: Too small/);
  });
});
