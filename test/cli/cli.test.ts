import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { partitionForKey } from '../../lib/log/partitioner.ts';
import { api, startTestStack } from '../support/stack.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'sluice.mjs');

let stack: LocalStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack();
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
});
afterAll(async () => {
  await stack?.server.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real binary against the test stack (a non-TTY: no progress bar). */
function sluice(args: string[], input?: string, url = stack.url): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, SLUICE_URL: url }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    child.stdin.end(input ?? '');
  });
}

describe('sluice CLI', () => {
  describe('produce and consume', () => {
    it('produces a file of 100,000 keyed lines and consumes them back equal, each key in order', async () => {
      // Prepare
      expect((await sluice(['topics', 'create', 'bulk', '--partitions', '4'])).code).toBe(0);
      const lines = Array.from({ length: 100_000 }, (_, i) => `key-${i % 250}:${i}`);
      const file = join(dir, 'bulk.txt');
      await writeFile(file, `${lines.join('\n')}\n`);

      // Act
      const produced = await sluice(['produce', 'bulk', '--file', file, '--key-separator', ':']);
      const consumed = await sluice(['consume', 'bulk', '--from-beginning', '-f', '%p %k:%s\\n']);

      // Assess
      expect(produced.code).toBe(0);
      expect(produced.stderr).toMatch(/^Produced 100000 records in [\d.]+ s: lines 1-100000 acknowledged\.\n$/);
      expect(consumed).toMatchObject({ code: 0, stderr: '' });
      const out = consumed.stdout.trimEnd().split('\n');
      expect(out).toHaveLength(100_000);
      const byKey = new Map<string, number[]>();
      for (const row of out) {
        const [partition, record] = row.split(' ') as [string, string];
        const [key, value] = record.split(':') as [string, string];
        expect(Number(partition)).toBe(partitionForKey(Buffer.from(key), 4));
        byKey.set(key, [...(byKey.get(key) ?? []), Number(value)]);
      }
      expect(byKey.size).toBe(250);
      for (const [key, values] of byKey) {
        const k = Number(key.slice(4));
        expect(values).toEqual(Array.from({ length: 400 }, (_, j) => j * 250 + k));
      }
      // Batched: 100,000 records took a handful of requests, not thousands.
      const described = await api(stack.url, 'GET', '/v1/topics/bulk');
      expect(described.body.partitions.reduce((n: number, p: { segments: number }) => n + p.segments, 0)).toBeLessThan(40);
    });

    it('prints JSON lines with topic, partition, offset, timestamp, key, value and headers', async () => {
      await sluice(['topics', 'create', 'lines', '--partitions', '2']);
      const produced = await sluice(['produce', 'lines', '--partition', '1', '-H', 'source=cli', '-H', 'trace=7,8', '-K', '='], 'a=first\nb=second\n');
      expect(produced.code).toBe(0);
      const consumed = await sluice(['consume', 'lines', '--partition', '1', '--offset', '0', '--format', 'json']);
      const rows = consumed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(rows).toEqual([
        { topic: 'lines', partition: 1, offset: 0, timestamp: expect.any(Number), key: 'a', value: 'first', headers: { source: 'cli', trace: '7,8' } },
        { topic: 'lines', partition: 1, offset: 1, timestamp: expect.any(Number), key: 'b', value: 'second', headers: { source: 'cli', trace: '7,8' } },
      ]);
    });

    it('prints keys and headers as kafka-console-consumer does and stops at --max-messages', async () => {
      await sluice(['topics', 'create', 'texts']);
      await sluice(['produce', 'texts', '-H', 'h=1', '--compression', 'zstd', '-K', ','], 'k1,v1\nk2,v2\nk3,v3\n');
      const consumed = await sluice(['consume', 'texts', '--from-beginning', '--print-key', '--print-headers', '--max-messages', '2']);
      expect(consumed).toMatchObject({ code: 0, stdout: 'h:1\tk1\tv1\nh:1\tk2\tv2\n' });
      const plain = await sluice(['consume', 'texts', '--offset', 'earliest']);
      expect(plain.stdout).toBe('v1\nv2\nv3\n');
    });

    it('holds produce to --rate records per second', async () => {
      await sluice(['topics', 'create', 'rated']);
      const started = Date.now();
      const run = await sluice(['produce', 'rated', '--rate', '40'], Array.from({ length: 20 }, (_, i) => `r${i}`).join('\n'));
      expect(run.code).toBe(0);
      // The 20th record is due 500 ms after the first.
      expect(Date.now() - started).toBeGreaterThanOrEqual(480);
      expect((await api(stack.url, 'GET', '/v1/topics/rated')).body.partitions[0].highWatermark).toBe(20);
    });

    it('follows the log for new records with --follow until --max-messages', async () => {
      await sluice(['topics', 'create', 'followed']);
      await sluice(['produce', 'followed'], 'first\n');
      const child = spawn(process.execPath, [BIN, 'consume', 'followed', '--from-beginning', '--follow', '--max-messages', '3'], { env: { ...process.env, SLUICE_URL: stack.url } });
      let stdout = '';
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => ((stdout += chunk.toString()), resolve())));
      expect(stdout).toBe('first\n');
      await sluice(['produce', 'followed'], 'second\nthird\n');
      expect(await exited).toBe(0);
      expect(stdout).toBe('first\nsecond\nthird\n');
    });

    it('exits at once with nothing to print when starting at the end without --follow', async () => {
      await sluice(['topics', 'create', 'quiet']);
      await sluice(['produce', 'quiet'], 'x\n');
      expect(await sluice(['consume', 'quiet'])).toMatchObject({ code: 0, stdout: '' });
    });
  });

  describe('topics', () => {
    it('creates, lists, describes, alters and deletes a topic, as JSON or tables', async () => {
      const created = await sluice(['topics', 'create', 'admin-t', '-p', '2', '-c', 'retention.ms=60000', '--json']);
      expect(JSON.parse(created.stdout)).toMatchObject({ name: 'admin-t', configs: { 'retention.ms': '60000' } });
      expect(JSON.parse((await sluice(['topics', 'list', '--json'])).stdout)).toContainEqual({ name: 'admin-t', partitions: 2 });
      expect((await sluice(['topics', 'list'])).stdout).toMatch(/^TOPIC\s+PARTITIONS\n(.*\n)*admin-t\s+2\n/);
      const altered = JSON.parse((await sluice(['topics', 'alter', 'admin-t', '--partitions', '3', '--json'])).stdout) as { partitions: unknown[] };
      expect(altered.partitions).toHaveLength(3);
      expect((await sluice(['topics', 'describe', 'admin-t'])).stdout).toContain('PARTITION  LOG-START  HIGH-WATERMARK  BYTES  SEGMENTS  LAST-COMPACTED');
      expect(await sluice(['topics', 'delete', 'admin-t'])).toMatchObject({ code: 0, stdout: 'Deleted topic admin-t.\n' });
    });
  });

  describe('topics create, alter and delete as kafka-topics and kafka-configs', () => {
    it('creates --if-not-exists, deletes --if-exists, takes repeated -c with commas in values, and reverts a config with --delete-config', async () => {
      const created = await sluice(['topics', 'create', 'idem', '-c', 'cleanup.policy=compact,delete', '-c', 'retention.ms=60000', '--json']);
      expect(JSON.parse(created.stdout).configs).toMatchObject({ 'cleanup.policy': 'compact,delete', 'retention.ms': '60000' });
      expect(await sluice(['topics', 'create', 'idem', '--if-not-exists'])).toMatchObject({ code: 0, stdout: 'Topic idem already exists.\n' });
      expect((await sluice(['topics', 'create', 'idem'])).stderr).toMatch(/^TOPIC_ALREADY_EXISTS: /);

      const reverted = await sluice(['topics', 'alter', 'idem', '--delete-config', 'retention.ms', '--delete-config', 'cleanup.policy', '-c', 'max.message.bytes=2000000', '--json']);
      expect(JSON.parse(reverted.stdout).configs).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '604800000', 'max.message.bytes': '2000000' });
      expect((await sluice(['topics', 'alter', 'idem', '--delete-config', 'no.such.config'])).stderr).toMatch(/^INVALID_CONFIG: Unknown topic config "no.such.config"/);

      expect(await sluice(['topics', 'delete', 'idem', '--if-exists'])).toMatchObject({ code: 0, stdout: 'Deleted topic idem.\n' });
      expect(await sluice(['topics', 'delete', 'idem', '--if-exists', '--json'])).toMatchObject({ code: 0, stdout: '{\n  "deleted": null\n}\n' });
      expect((await sluice(['topics', 'delete', 'idem'])).stderr).toMatch(/^UNKNOWN_TOPIC_OR_PARTITION: /);
    });

    it('looks offsets up by time per partition, as kafka-get-offsets', async () => {
      await sluice(['topics', 'create', 'timed', '-p', '2']);
      const baseMs = Date.now() - 60_000;
      const records = [0, 1].flatMap((partition) => Array.from({ length: 4 }, (_, i) => ({ value: `v${i}`, partition, timestamp: baseMs + i * 1000 })));
      expect((await api(stack.url, 'POST', '/v1/topics/timed/records', { records })).status).toBe(200);
      await api(stack.url, 'POST', '/v1/topics/timed/partitions/1/delete-records', { offset: 1 });

      expect((await sluice(['topics', 'offsets', 'timed'])).stdout).toBe('timed:0:4\ntimed:1:4\n');
      expect((await sluice(['topics', 'offsets', 'timed', '--time', '-2'])).stdout).toBe('timed:0:0\ntimed:1:1\n');
      expect((await sluice(['topics', 'offsets', 'timed', '--time', String(baseMs + 2500), '-p', '0'])).stdout).toBe('timed:0:3\n');
      const json = await sluice(['topics', 'offsets', 'timed', '--time', new Date(baseMs + 1000).toISOString(), '--json']);
      expect(JSON.parse(json.stdout)).toEqual([
        { partition: 0, offset: 1, timestamp: baseMs + 1000 },
        { partition: 1, offset: 1, timestamp: baseMs + 1000 },
      ]);
    });
  });

  describe('topics delete-records', () => {
    it("raises a partition's log start offset, and describe shows it", async () => {
      await sluice(['topics', 'create', 'trim-t', '-p', '1']);
      await api(stack.url, 'POST', '/v1/topics/trim-t/records', { records: ['a', 'b', 'c'].map((value) => ({ value })) });
      const run = await sluice(['topics', 'delete-records', 'trim-t', '--partition', '0', '--offset', '2']);
      expect(run).toMatchObject({ code: 0, stdout: 'Partition 0 of trim-t now starts at offset 2.\n' });
      const described = JSON.parse((await sluice(['topics', 'describe', 'trim-t', '--json'])).stdout) as { partitions: Array<{ logStartOffset: number }> };
      expect(described.partitions[0]?.logStartOffset).toBe(2);
      const all = await sluice(['topics', 'delete-records', 'trim-t', '-p', '0', '-o', '-1', '--json']);
      expect(JSON.parse(all.stdout)).toEqual({ partition: 0, lowWatermark: 3 });
      // The route names it logStartOffset, as every other route does.
      expect((await api(stack.url, 'POST', '/v1/topics/trim-t/partitions/0/delete-records', { offset: 1 })).body).toMatchObject({ logStartOffset: 3 });
    });
  });

  describe('errors', () => {
    it('prints ERROR_NAME: message without a stack and exits 1', async () => {
      const run = await sluice(['consume', 'missing-topic']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^UNKNOWN_TOPIC_OR_PARTITION: .+\n$/);
    });

    it('adds the stack with --verbose', async () => {
      const run = await sluice(['--verbose', 'topics', 'create', 'bad name!']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^POST \/v1\/topics 400 \d+ ms\nINVALID_TOPIC_EXCEPTION: .+\n/);
      expect(run.stderr).toContain('    at ');
    });

    it('names a line without the key separator', async () => {
      await sluice(['topics', 'create', 'keyed']);
      const run = await sluice(['produce', 'keyed', '-K', ':'], 'a:1\nno separator\n');
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/: lines 1-1 acknowledged\.\nINVALID_RECORD: Line 2 has no key separator ":"\n$/);
    });

    it('reports an unreachable API as REQUEST_TIMED_OUT', async () => {
      const closed = await closedPort();
      const run = await sluice(['--retries', '0', 'topics', 'list'], undefined, `http://127.0.0.1:${closed}`);
      expect(run).toMatchObject({ code: 1, stderr: `REQUEST_TIMED_OUT: Connection refused by http://127.0.0.1:${closed} (ECONNREFUSED): is the local stack running? Start it with \`npm start\`\n` });
    });

    it('rejects a bad option value with a usage error', async () => {
      const run = await sluice(['consume', 'x', '--partition', 'two']);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain("option '-p, --partition <n>' argument 'two' is invalid");
    });
  });
});
