/**
 * `npm start`: the whole Sluice API on 127.0.0.1:4100 over DynamoDB Local and s3rver, with
 * data under .sluice/ (or SLUICE_DATA_DIR) so a restart keeps every topic and record.
 *
 * Whichever of its processes dies, even by kill -9, the rest stop and the next start is
 * clean: an emulator that exits takes the stack down; this process watches its parent (npm)
 * and stops when it goes; the s3rver process stops DynamoDB Local if this one dies; and a
 * start reclaims the data directory from any emulator a dead stack left behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { DataDirInUseError, holdDataDir, reclaimDataDir, releaseDataDir } from './data-dir-lock.ts';
import { JavaMissingError, startEmulators, type Emulators } from './emulators.ts';
import { startStack, type LocalStack } from './stack.ts';

const port = Number(process.env.SLUICE_PORT ?? 4100);
const compactIntervalMs = Number(process.env.SLUICE_COMPACT_INTERVAL_MS ?? 60_000);
const dataDir = resolve(process.env.SLUICE_DATA_DIR ?? '.sluice');
const instances = Number(process.env.SLUICE_INSTANCES ?? 2);

/** This process's parent, its parent, and so on, short of init. */
function ancestors(): number[] {
  const found: number[] = [];
  for (let pid = process.ppid; pid > 1 && found.length < 16; ) {
    found.push(pid);
    const ps = spawnSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' });
    pid = ps.status === 0 ? Number(ps.stdout.trim()) : 0;
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let emulators: Emulators | undefined;
let stack: LocalStack | undefined;
let stopping = false;

async function shutdown(code: number, reason?: string): Promise<never> {
  if (!stopping) {
    stopping = true;
    if (reason !== undefined) console.error(`Sluice is stopping: ${reason}`);
    await stack?.close();
    await emulators?.stop();
    if (emulators !== undefined) releaseDataDir(dataDir);
  }
  process.exit(code);
}

// A parent killed outright (npm, a terminal) sends no signal, and with `npm start` a shell
// sits in between: watch every process that started this one, from the first moment (a
// parent can die while the emulators are still starting).
process.once('SIGINT', () => void shutdown(0));
process.once('SIGTERM', () => void shutdown(0));
const starters = ancestors();
setInterval(() => {
  const gone = starters.find((pid) => !alive(pid));
  if (gone !== undefined) void shutdown(0, `process ${gone}, which started it, is gone`);
}, 500).unref();

try {
  if (!Number.isInteger(instances) || instances < 1) throw new Error(`SLUICE_INSTANCES must be a positive integer, got ${JSON.stringify(process.env.SLUICE_INSTANCES)}`);
  mkdirSync(dataDir, { recursive: true });
  for (const leftover of await reclaimDataDir(dataDir)) console.error(`Stopped ${leftover}, left running on ${dataDir} by a stack that died.`);
  emulators = await startEmulators({ dataDir });
  holdDataDir(dataDir, { pid: process.pid, dynamoPid: emulators.pids.dynamo, s3Pid: emulators.pids.s3 });
  void emulators.crashed.then((what) => shutdown(1, what));
  stack = await startStack({ emulators, tableName: process.env.SLUICE_TABLE ?? 'sluice', bucketName: process.env.SLUICE_BUCKET ?? 'sluice-local', port, compactIntervalMs, instances });
  console.log(`Sluice is ready at ${stack.url} (data in ${dataDir}, ${instances} instance${instances === 1 ? '' : 's'} of each function); Ctrl-C to stop.`);
} catch (error) {
  const known = error instanceof JavaMissingError || error instanceof DataDirInUseError;
  console.error(known ? (error as Error).message : `Sluice could not start: ${(error as Error).message}`);
  await shutdown(1);
}
