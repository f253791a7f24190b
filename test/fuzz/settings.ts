import fc from 'fast-check';
import { field, hostileString, hostileValue, record, type Jv } from './values.js';

const str = (...xs: string[]) =>
  fc.oneof({ arbitrary: fc.constantFrom(...xs), weight: 3 }, { arbitrary: hostileString, weight: 1 });
const num = (...xs: number[]) =>
  fc.oneof({ arbitrary: fc.constantFrom<Jv>(...xs), weight: 3 }, { arbitrary: hostileValue, weight: 1 });
const seconds = field(fc.oneof(num(0, 1, 60, -1, 1e12), fc.constant<Jv>(null)));

/** Berth's `berth` settings (environment) and overrides (session): driver, resource limits, lifecycle. */
export const berthOverrides = record({
  driver: field(str('bwrap', 'runsc', '../bwrap', 'constructor')),
  resources: field(
    record({
      memory_mib: field(num(64, 63, 512, 1_048_577)),
      cpus: field(num(0.01, 0, 1, 256.5)),
      pids: field(num(32, 31, 4_194_305)),
      disk_mib: field(num(16, 1, 1024, 2 ** 40)),
    }),
  ),
  lifecycle: field(
    record({
      pattern: field(str('persistent', 'ephemeral', 'hybrid', 'shared')),
      idle_timeout_s: seconds,
      hibernate_after_s: seconds,
      max_lifetime_s: seconds,
      turn_timeout_s: seconds,
    }),
  ),
});
