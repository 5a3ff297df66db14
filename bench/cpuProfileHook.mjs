// Profiles the process it is preloaded into and writes a .cpuprofile when it exits, or when it gets SIGUSR2 (for
// processes the bench ends with SIGKILL, such as gateways): Node 20 refuses --cpu-prof in NODE_OPTIONS, and child
// processes started by tests take no extra argv.
// Use: BENCH_COORDINATOR_NODE_OPTIONS="--import ./bench/cpuProfileHook.mjs" (CPU_PROF_DIR picks the folder).
import { Session } from 'node:inspector';
import fs from 'node:fs';
import path from 'node:path';

const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 500 });
session.post('Profiler.start');
let written = false;
function dump() {
  if (written) return;
  written = true;
  session.post('Profiler.stop', (err, result) => {
    if (err) return;
    const dir = process.env.CPU_PROF_DIR ?? process.cwd();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `coordinator-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
}
process.on('exit', dump);
process.on('SIGUSR2', dump);
