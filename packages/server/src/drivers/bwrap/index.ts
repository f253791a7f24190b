export { BwrapDriver, type BwrapDriverOptions } from './bwrap-driver.js';
export { DEFAULT_UID_RANGE, type UidRange } from './uids.js';
