import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Attempt, Driver } from './attempts.js';

/** One attempt's outcome. `blocked` false means something got through (or the evidence was missing). */
export interface Outcome {
  id: string;
  category: Attempt['category'];
  driver: Driver;
  blocked: boolean | 'skipped';
  evidence: string;
}

/** Judges a tool result: the end marker must be there, no leak, and the evidence must match. */
export function judge(a: Attempt, driver: Driver, output: string | undefined): Outcome {
  const base = { id: a.id, category: a.category, driver };
  if (output === undefined) return { ...base, blocked: false, evidence: 'no tool result (the attempt never ran)' };
  const leak = (a.leaks ?? []).find((l) => l.length > 0 && output.includes(l));
  if (leak !== undefined)
    return { ...base, blocked: false, evidence: `LEAKED: output contains '${leak.slice(0, 24)}…'` };
  if (!output.includes(`@@${a.id} rc=`)) return { ...base, blocked: false, evidence: `no end marker: ${tail(output)}` };
  const re = a.blocked instanceof RegExp ? a.blocked : a.blocked[driver];
  const m = re.exec(output);
  if (!m) return { ...base, blocked: false, evidence: `expected ${re.source.slice(0, 60)}: got ${tail(output)}` };
  return { ...base, blocked: true, evidence: oneLine(m[0]) };
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 110 ? `${t.slice(0, 107)}...` : t;
}

function tail(s: string): string {
  return oneLine(s.slice(-300));
}

/** Prints the table and the closing count line, and writes the JSON report; returns the report's path. */
export function writeReport(driver: Driver, outcomes: Outcome[]): string {
  const ran = outcomes.filter((o) => o.blocked !== 'skipped');
  const blocked = ran.filter((o) => o.blocked === true).length;
  const rows = outcomes.map(
    (o) =>
      `${o.id.padEnd(26)} ${o.category.padEnd(15)} ${o.driver.padEnd(7)} ${String(
        o.blocked === 'skipped' ? 'skip' : o.blocked ? 'yes' : 'NO',
      ).padEnd(5)} ${o.evidence}`,
  );
  const summary = `escape suite (${driver}): ${ran.length} attempts, ${blocked} blocked${
    outcomes.length > ran.length ? `, ${outcomes.length - ran.length} skipped` : ''
  }`;
  const header = `${'attempt'.padEnd(26)} ${'category'.padEnd(15)} ${'driver'.padEnd(7)} ${'blocked'.padEnd(5)} evidence`;
  console.log([header, ...rows, summary].join('\n'));
  const dir = process.env.BERTH_ESCAPE_REPORT ?? tmpdir();
  const path = join(dir, `berth-escape-${driver}.json`);
  writeFileSync(path, JSON.stringify({ driver, attempts: ran.length, blocked, outcomes }, null, 2));
  return path;
}
