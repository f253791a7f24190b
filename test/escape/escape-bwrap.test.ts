import { defineEscapeSuite } from './suite.js';

// The escape suite against the bwrap driver (see suite.ts, attempts.ts and docs/security.md).
defineEscapeSuite('bwrap');
