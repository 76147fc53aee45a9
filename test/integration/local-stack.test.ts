import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/emulators.ts';
import { api } from '../support/stack.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'sluice-restart-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs `npm start`'s entry point as its own process, as a user would. */
function start(port: number, env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; ready: Promise<string>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], { env: { ...env, SLUICE_PORT: String(port), SLUICE_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready at (\S+)/.exec(output);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  return { child, ready, output: () => output };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

/** Java processes still holding this test's data directory. */
function leftoverJava(): string {
  return spawnSync('pgrep', ['-f', dataDir], { encoding: 'utf8' }).stdout.trim();
}

describe('the local stack (npm start)', () => {
  it('keeps every topic and record across a restart and leaves no process behind', async () => {
    const port = await freePort();
    const first = start(port);
    const url = await first.ready;
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect((await api(url, 'POST', '/v1/topics', { name: 'durable', partitions: 2 })).status).toBe(201);
    const produced = await api(url, 'POST', '/v1/topics/durable/records', { records: [{ key: 'a', value: 'one' }, { key: 'a', value: 'two' }, { key: 'a', value: 'three' }] });
    const { partition } = produced.body.offsets[0];
    expect(await stop(first.child)).toBe(0);
    expect(leftoverJava()).toBe('');

    const second = start(port);
    const again = await second.ready;
    const fetched = await api(again, 'GET', `/v1/topics/durable/partitions/${partition}/records?offset=0`);
    expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['one', 'two', 'three']);
    expect((await api(again, 'GET', '/v1/topics')).body.topics).toEqual([{ name: 'durable', partitions: 2 }]);
    expect(await stop(second.child)).toBe(0);
    expect(leftoverJava()).toBe('');
  }, 180_000);

  it('says in one line what to install when Java is missing', async () => {
    const run = start(await freePort(), { ...process.env, PATH: '/nonexistent' });
    await expect(run.ready).rejects.toThrow(/exited with 1/);
    const lines = run.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/needs Java 17.*install/);
  });
});
