import { z } from 'zod';

/** Value types shared by the config fields (config.ts, config-services.ts). */

export const port = z.coerce.number().int().min(0).max(65535);

/** `0`, `false`, `no`, `off` and the empty string are false; any other string is true. */
export const bool = z.preprocess(
  (v) => (typeof v === 'string' ? !['0', 'false', 'no', 'off', ''].includes(v.toLowerCase()) : v),
  z.boolean(),
);

/** A comma-separated list. */
export const list = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').filter(Boolean) : v),
  z.array(z.string()),
);
