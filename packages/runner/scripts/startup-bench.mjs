// Measures runner start-up as benchmark B1 sees it, on the host: process spawn → `hello` received on the
// control socket, against the same measure for a bare `node -e 0` (spawn → exit). Prints medians.
// Usage: node scripts/startup-bench.mjs [runs=20]   (run `npm run bundle` first)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 20);
const bundle = fileURLToPath(new URL('../dist/runner.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'berth-startup-'));
const sock = join(dir, 'control.sock');
let onHello = null;
const server = net.createServer((s) => {
  s.once('data', () => onHello?.());
});
await new Promise((r) => server.listen(sock, r));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bare = [];
const floor = [];
const runner = [];
// The floor: the least a node process can do to say hello (connect, write one line).
const minimal = `require('net').createConnection(process.env.BERTH_CONTROL_SOCKET).end('{}\\n')`;
const env = {
  BERTH_CONTROL_SOCKET: sock,
  BERTH_MODEL_SOCKET: join(dir, 'model.sock'),
  BERTH_SANDBOX_ID: 'bench',
  PATH: process.env.PATH,
};
const untilHello = async (args) => {
  const t = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'ignore', env });
  await new Promise((r) => (onHello = r));
  const ms = performance.now() - t;
  child.kill('SIGKILL');
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
  return ms;
};
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  await new Promise((r) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).once('exit', r));
  bare.push(performance.now() - t);

  floor.push(await untilHello(['-e', minimal]));
  runner.push(await untilHello([bundle]));
}
server.close();
rmSync(dir, { recursive: true, force: true });
const b = median(bare);
const f = median(floor);
const h = median(runner);
console.log(`node -e 0 (spawn → exit):        median ${b.toFixed(1)} ms`);
console.log(`node -e connect+write (floor):    median ${f.toFixed(1)} ms`);
console.log(`runner (spawn → hello received): median ${h.toFixed(1)} ms  (${(h / b).toFixed(2)}x)`);
