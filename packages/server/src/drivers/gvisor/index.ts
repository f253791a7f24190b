export { DEFAULT_GVISOR_UID_RANGE, GvisorDriver, type GvisorDriverOptions } from './gvisor-driver.js';
