import { defineEscapeSuite } from './suite.js';

// The escape suite against the gvisor driver (see suite.ts, attempts.ts and docs/security.md).
defineEscapeSuite('gvisor');
