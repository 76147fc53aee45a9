import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, reclaimDataDir } from '../../local/data-dir-lock.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A stand-in process whose command line carries `marker`, as the real one's does. */
async function standIn(marker: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child;
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
}

describe('reclaiming the data directory of a stack that died', () => {
  it('stops a DynamoDB Local its dead stack left running, and leaves unrelated processes with recorded ids alone', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-lock-'));
    try {
      const dynamo = await standIn('DynamoDBLocal.jar');
      const exited = new Promise((resolve) => dynamo.once('exit', resolve));
      // The s3rver id now belongs to another process (ids are reused): it must survive.
      writeFileSync(join(dataDir, 'stack.json'), JSON.stringify({ pid: deadPid(), dynamoPid: dynamo.pid, s3Pid: process.pid }));
      expect(await reclaimDataDir(dataDir)).toEqual([`DynamoDB Local (pid ${dynamo.pid})`]);
      await exited;
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start over a stack that is still running', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-lock-'));
    try {
      const running = await standIn('local/main.ts');
      writeFileSync(join(dataDir, 'stack.json'), JSON.stringify({ pid: running.pid, dynamoPid: 0, s3Pid: 0 }));
      await expect(reclaimDataDir(dataDir)).rejects.toThrow(DataDirInUseError);
      expect(running.exitCode).toBeNull();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
