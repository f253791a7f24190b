import type { DriverCapabilities } from '../drivers/driver.js';
import { ApiError } from '../errors.js';

/** The enabled sandbox drivers by name, with what each can enforce; bwrap is always there. */
export type EnabledDrivers = Readonly<Record<string, DriverCapabilities>>;

/**
 * What `berth.driver` names, if this server has it enabled. An environment or session naming a driver that is not
 * enabled (never, or no longer after a restart with fewer `--drivers`) is refused, never run on another driver.
 */
export function capabilitiesOf(drivers: EnabledDrivers, name: string): DriverCapabilities {
  const caps = Object.hasOwn(drivers, name) ? drivers[name] : undefined;
  if (caps === undefined)
    throw new ApiError(
      'unsupported_feature',
      `berth.driver '${name}' is not enabled on this server (enabled: ${Object.keys(drivers).join(', ')}). ` +
        `Use one of those, or start berthd with --drivers bwrap,${name} (env BERTH_DRIVERS).`,
    );
  return caps;
}
