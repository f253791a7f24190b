/** One pino-style log method: `log.info({ id }, 'message')` or `log.info('message')`. */
export type DriverLogFn = (objOrMsg: object | string, msg?: string) => void;

/** The slice of pino's Logger that drivers use; berthd injects its pino logger, tests a silent one. */
export interface DriverLogger {
  child(bindings: Record<string, unknown>): DriverLogger;
  debug: DriverLogFn;
  info: DriverLogFn;
  warn: DriverLogFn;
  error: DriverLogFn;
}

/** A logger that drops everything (tests, tools). */
export function silentLogger(): DriverLogger {
  const noop: DriverLogFn = () => undefined;
  const log: DriverLogger = { child: () => log, debug: noop, info: noop, warn: noop, error: noop };
  return log;
}
