#!/usr/bin/env node
// The `berth` command. A committed shim (not dist/) so npm links it at install time, before the build exists.
import('../dist/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/main.js')) {
    console.error('berth is not built yet: run `bash scripts/setup.sh` (or `npm run build`) in the Berth directory.');
    process.exit(2);
  }
  throw err;
});
