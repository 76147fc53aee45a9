import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/emulators.ts';
import { api } from '../support/stack.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'sluice-crash-'));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) child.kill('SIGKILL');
  for (const pid of Object.values(holder() ?? {})) if (running(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** `npm start` as npm runs it: a shell running the entry point (one instance per function keeps it quick). */
function start(port: number, after = 'nothing'): { shell: ChildProcess; ready: Promise<string>; output: () => string } {
  // The command after it keeps the shell from exec'ing node: the shell stays its parent, as with npm.
  const shell = spawn('sh', ['-c', `${JSON.stringify(process.execPath)} --import tsx local/main.ts; echo "exited with $?"`], {
    env: { ...process.env, SLUICE_PORT: String(port), SLUICE_DATA_DIR: dataDir, SLUICE_INSTANCES: '1', SLUICE_COMPACT_INTERVAL_MS: '3600000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(shell);
  let output = '';
  const ready = new Promise<string>((resolve, reject) => {
    shell.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready at (\S+)/.exec(output);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    shell.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    shell.once('exit', () => reject(new Error(`the stack did not start after killing ${after}: ${output}`)));
  });
  return { shell, ready, output: () => output };
}

/** The processes the stack records in its data directory. */
function holder(): { pid: number; dynamoPid: number; s3Pid: number } | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'stack.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

function running(pid: number): boolean {
  return spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim().replace(/^Z.*/, '') !== '';
}

async function allGone(pids: number[], timeoutMs = 20_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids;
  while (Date.now() < deadline && (left = pids.filter(running)).length > 0) await new Promise((r) => setTimeout(r, 100));
  return left;
}

/** Produces one record at a time until a request fails; returns the values acknowledged. */
function produceUntilFailure(url: string, label: string, onAck: (count: number) => void): Promise<string[]> {
  return (async () => {
    const acked: string[] = [];
    for (let i = 0; ; i++) {
      const value = `${label}-${i}`;
      try {
        const res = await api(url, 'POST', '/v1/topics/durable/records', { records: [{ value, partition: 0 }] });
        if (res.status !== 200) return acked;
      } catch {
        return acked;
      }
      acked.push(value);
      onAck(acked.length);
    }
  })();
}

async function readPartition(url: string): Promise<string[]> {
  const values: string[] = [];
  for (let offset = 0; ; ) {
    const res = await api(url, 'GET', `/v1/topics/durable/partitions/0/records?offset=${offset}&maxRecords=1000`);
    expect(res.status).toBe(200);
    for (const [i, r] of (res.body.records as Array<{ offset: number; value: string }>).entries()) {
      expect(r.offset, 'offsets are dense').toBe(offset + i);
      values.push(r.value);
    }
    if (res.body.nextOffset >= res.body.highWatermark) return values;
    offset = res.body.nextOffset;
  }
}

/** What s3rver as shipped could leave when killed mid-write: an object with 0-byte metadata. */
function plantTornObject(): void {
  const bucketDir = join(dataDir, 's3', 'sluice-local', 'data', 'durable', '0');
  mkdirSync(bucketDir, { recursive: true });
  writeFileSync(join(bucketDir, 'torn.kafka._S3rver_object'), Buffer.alloc(100));
  writeFileSync(join(bucketDir, 'torn.kafka._S3rver_metadata.json'), '');
}

type Holder = NonNullable<ReturnType<typeof holder>>;

/** Each victim, and the processes that may (only until the next start) outlive it. */
const VICTIMS: Array<{ name: string; pids: (h: Holder, shell: ChildProcess) => number[]; leftover: (h: Holder) => number[] }> = [
  { name: 'the stack process', pids: (h) => [h.pid], leftover: () => [] },
  { name: 'DynamoDB Local', pids: (h) => [h.dynamoPid], leftover: () => [] },
  { name: 's3rver', pids: (h) => [h.s3Pid], leftover: () => [] },
  { name: 'the shell that ran npm start', pids: (_, shell) => [shell.pid as number], leftover: () => [] },
];

describe('the local stack after kill -9 (npm start)', () => {
  it('restarts with every acknowledged record after any one of its processes, or the shell that started it, is killed mid-produce, and leaves no emulator running', async () => {
    const port = await freePort();
    const acknowledged: string[] = [];
    let run = start(port);
    let url = await run.ready;
    expect((await api(url, 'POST', '/v1/topics', { name: 'durable', partitions: 1 })).status).toBe(201);

    for (const victim of VICTIMS) {
      const h = holder() as Holder;
      expect(h, 'the stack records its processes').toBeDefined();
      let killed = false;
      acknowledged.push(
        ...(await produceUntilFailure(url, victim.name, (n) => {
          if (n === 5 && !killed) {
            killed = true;
            for (const pid of victim.pids(h, run.shell)) process.kill(pid, 'SIGKILL');
          }
        })),
      );
      expect(await allGone([h.pid, h.dynamoPid, h.s3Pid].filter((pid) => !victim.leftover(h).includes(pid))), `the stack's processes stop after killing ${victim.name}`).toEqual([]);
      // What s3rver as shipped left when killed mid-write; every later start then failed.
      if (victim.name === 's3rver') plantTornObject();

      run = start(port, victim.name);
      url = await run.ready;
      expect(await allGone(victim.leftover(h), 0), 'a start stops what a dead stack left on its data').toEqual([]);
      const values = await readPartition(url);
      expect(values.filter((v) => acknowledged.includes(v)), `every acknowledged record, after killing ${victim.name}`).toEqual(acknowledged);
      expect(new Set(values).size, 'no record twice').toBe(values.length);
    }
    const last = holder() as Holder;
    process.kill(last.pid, 'SIGTERM');
    expect(await allGone([last.pid, last.dynamoPid, last.s3Pid])).toEqual([]);
    expect(readdirSync(dataDir), 'a clean stop releases the data directory').not.toContain('stack.json');
  }, 600_000);
});
