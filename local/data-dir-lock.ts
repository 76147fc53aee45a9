/**
 * Who holds `npm start`'s data directory: a small file naming the stack's process and its
 * emulators. A stack stops its emulators itself, and they stop when it dies (see
 * s3rver-child.mjs), but if two of its processes were killed at once an emulator could be
 * left holding the data files. The next start reads this file and stops such leftovers
 * rather than run a second DynamoDB Local on the same files.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Holder {
  /** The stack's own process (local/main.ts). */
  pid: number;
  dynamoPid: number;
  s3Pid: number;
}

/** Thrown when a live stack still uses the directory. */
export class DataDirInUseError extends Error {}

function lockPath(dataDir: string): string {
  return join(dataDir, 'stack.json');
}

/** The command line of `pid`, or undefined when no such process runs. */
function commandOf(pid: number): string | undefined {
  const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
  return ps.status === 0 ? ps.stdout.trim() : undefined;
}

function readHolder(dataDir: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(lockPath(dataDir), 'utf8')) as Holder;
  } catch {
    // Absent, or torn by a kill while it was written: nothing to go by.
    return undefined;
  }
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if (commandOf(pid) === undefined) return true;
  }
  return false;
}

/**
 * Stops emulators a dead stack left on `dataDir`; throws DataDirInUseError if that stack
 * is still running. A process is taken for ours only if its command line says so, since
 * process ids are reused.
 */
export async function reclaimDataDir(dataDir: string): Promise<string[]> {
  const holder = readHolder(dataDir);
  if (holder === undefined) return [];
  if (holder.pid !== process.pid && commandOf(holder.pid)?.includes('local/main.ts') === true) {
    throw new DataDirInUseError(`Another Sluice stack (pid ${holder.pid}) is using ${dataDir}; stop it first, or set SLUICE_DATA_DIR to another directory.`);
  }
  const stopped: string[] = [];
  for (const [pid, marker, name] of [
    [holder.dynamoPid, 'DynamoDBLocal', 'DynamoDB Local'],
    [holder.s3Pid, 's3rver-child', 's3rver'],
  ] as const) {
    if (commandOf(pid)?.includes(marker) !== true) continue;
    process.kill(pid, 'SIGTERM');
    if (!(await exited(pid, 5_000))) process.kill(pid, 'SIGKILL');
    stopped.push(`${name} (pid ${pid})`);
  }
  return stopped;
}

/** Records this process and its emulators as the directory's holder. */
export function holdDataDir(dataDir: string, holder: Holder): void {
  writeFileSync(lockPath(dataDir), JSON.stringify(holder));
}

/** Forgets the holder, on a clean stop. */
export function releaseDataDir(dataDir: string): void {
  rmSync(lockPath(dataDir), { force: true });
}
