import type { LogLevel } from './env.js';

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** A JSON-lines logger. The runner logs to stderr only: stdout is never used. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{ session_id }`). */
  child(fields: LogFields): Logger;
}

/**
 * Literal secret values (gateway tokens) scrubbed from every log line, whatever key or text they hide in.
 * One instance is shared by a logger and all its children.
 */
export class SecretScrubber {
  private readonly values = new Set<string>();

  /** Registers a value to scrub; short values are ignored because they would mangle ordinary text. */
  add(value: string): void {
    if (value.length >= 8) this.values.add(value);
  }

  /** Removes a value once nothing can log it any more. */
  delete(value: string): void {
    this.values.delete(value);
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.values) out = out.split(v).join('[redacted]');
    return out;
  }
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
// Keys whose values are credentials by name, redacted even before the scrubber knows the value.
const SECRET_KEY = /token|api[-_]?key|authorization|secret|password/i;

function serialise(value: unknown, depth: number): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack?.split('\n').slice(0, 6).join('\n') };
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '[depth]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => serialise(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : serialise(v, depth + 1);
  return out;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; defaults to stderr. Tests pass a collector. */
  write?: (line: string) => void;
  base?: LogFields;
  scrubber?: SecretScrubber;
}

/** Creates the root logger. */
export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  const scrubber = opts.scrubber ?? new SecretScrubber();
  const min = RANK[opts.level];
  const make = (base: LogFields): Logger => {
    const log = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (RANK[level] < min) return;
      const record = serialise({ time: new Date().toISOString(), level, msg, ...base, ...fields }, 0);
      write(scrubber.scrub(JSON.stringify(record)) + '\n');
    };
    return {
      debug: (m, f) => log('debug', m, f),
      info: (m, f) => log('info', m, f),
      warn: (m, f) => log('warn', m, f),
      error: (m, f) => log('error', m, f),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(opts.base ?? {});
}
