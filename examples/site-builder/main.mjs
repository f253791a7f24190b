// node examples/site-builder/main.mjs: berthd in-process with previews on (a free port), then the example.
import { fileURLToPath } from 'node:url';
import { startExample } from '../lib/start.mjs';
import { run } from './example.mjs';

const result = await startExample(run, {
  scenarios: fileURLToPath(new URL('./scenarios', import.meta.url)),
  overrides: { previewPort: 0 },
});
console.log(JSON.stringify(result, null, 2));
