import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { ScenarioSchema, type Scenario } from './schema.js';

/** A scenario that failed to load; `source` names the file (or `<inline>`), the message names the field. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`${source}: ${detail}`);
  }
}

type Issue = z.core.$ZodIssue;

function pathToString(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out ? '.' : ''}${String(key)}`;
  return out || '(root)';
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path)
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

/**
 * Flattens zod issues into "field: problem" lines. zod reports a failed union as "Invalid input" with every
 * branch's issues; a turn is the only plain union, so pick the branch the author meant (error turn when the
 * object has an `error` key) and report that branch's issues instead.
 */
function describeIssues(issues: readonly Issue[], root: unknown, prefix: readonly PropertyKey[] = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length === 2) {
      const value = valueAt(root, path);
      const meantError = value !== null && typeof value === 'object' && 'error' in value;
      lines.push(...describeIssues(issue.errors[meantError ? 1 : 0] ?? [], root, path));
      continue;
    }
    if (issue.code === 'invalid_union' && 'discriminator' in issue) {
      // Content blocks are the only discriminated union; the issue's path already ends at the `type` field.
      const got = JSON.stringify(valueAt(root, path)) ?? 'nothing';
      lines.push(`${pathToString(path)}: unknown block type ${got}; expected "text", "tool_use" or "thinking"`);
      continue;
    }
    lines.push(`${pathToString(path)}: ${issue.message.replace(/^Invalid (input|option): /, '')}`);
  }
  return lines;
}

/** Validates one scenario object; throws a `ScenarioError` naming `source` and every bad field. */
export function parseScenario(value: unknown, source = '<inline>'): Scenario {
  const result = ScenarioSchema.safeParse(value);
  if (!result.success) throw new ScenarioError(source, describeIssues(result.error.issues, value).join('; '));
  return result.data;
}

function parseScenarioText(text: string, source: string): Scenario {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError(source, `invalid JSON: ${(err as Error).message}`);
  }
  return parseScenario(value, source);
}

/** Refuses two files declaring the same name: which one wins would otherwise depend on directory order. */
function checkUnique(scenarios: Scenario[], files: string[]): void {
  const seen = new Map<string, string>();
  scenarios.forEach((s, i) => {
    const earlier = seen.get(s.name);
    if (earlier !== undefined) throw new ScenarioError(files[i]!, `name "${s.name}" is already used by ${earlier}`);
    seen.set(s.name, files[i]!);
  });
}

/** Loads and validates every `*.json` file in `dir` (sorted by file name). Throws `ScenarioError` on the first bad file. */
export async function loadScenarioDir(dir: string): Promise<Scenario[]> {
  const files = (await readdir(dir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
  const scenarios: Scenario[] = [];
  for (const file of files) scenarios.push(parseScenarioText(await readFile(file, 'utf8'), file));
  checkUnique(scenarios, files);
  return scenarios;
}

/**
 * The directory of the scenarios shipped with the package. `src/` and `dist/` sit at the same depth, so the
 * same relative URL works from the sources (vitest) and from the build.
 */
export function builtinScenarioDir(): string {
  return fileURLToPath(new URL('../scenarios/', import.meta.url));
}

/** The scenarios shipped with the package (`default`, `write-and-run`, ...), read fresh from disk on each call. */
export function builtinScenarios(): Scenario[] {
  const dir = builtinScenarioDir();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
  const scenarios = files.map((file) => parseScenarioText(readFileSync(file, 'utf8'), file));
  checkUnique(scenarios, files);
  return scenarios;
}
