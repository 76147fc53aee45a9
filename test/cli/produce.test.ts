import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { api, startTestStack } from '../support/stack.ts';
import { eventually, runCli, startCli } from './cli-runner.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sluice = (args: string[], input?: string | Buffer) => runCli(args, stack.url, input);
const highWatermark = async (topic: string, partition = 0): Promise<number> => (await api(stack.url, 'GET', `/v1/topics/${topic}`)).body.partitions[partition].highWatermark;
const records = async (topic: string, partition = 0) => (await api(stack.url, 'GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=0&encoding=base64`)).body.records as Array<{ key: string | null; value: string | null; headers: Record<string, string | null> }>;
const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64');

describe('sluice produce', () => {
  it('sends each line while stdin stays open, within --linger-ms', async () => {
    // Prepare
    await api(stack.url, 'POST', '/v1/topics', { name: 'typed', partitions: 1 });
    const child = startCli(['produce', 'typed'], stack.url);
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    // Act / Assess: nothing is held back for a batch of 2,000 lines or EOF.
    child.stdin.write('first\n');
    expect(await eventually(async () => (await highWatermark('typed')) === 1, 30_000)).toBe(true);
    child.stdin.write('second\n');
    expect(await eventually(async () => (await highWatermark('typed')) === 2, 5_000)).toBe(true);
    child.stdin.end('third\n');
    expect(await exited).toBe(0);
    expect(await highWatermark('typed')).toBe(3);
  });

  it('flushes what it read on Ctrl-C, even within a long linger, and says up to which line', async () => {
    // Prepare: a linger of a minute keeps the lines in the producer until something flushes.
    await api(stack.url, 'POST', '/v1/topics', { name: 'interrupted', partitions: 1 });
    const child = startCli(['-v', 'produce', 'interrupted', '--linger-ms', '60000'], stack.url);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.write('a\nb\nc\n');
    // The producer looks the topic up when the first line reaches it.
    expect(await eventually(async () => /GET \/v1\/topics\/interrupted(\?rates=false)? 200/.test(stderr), 30_000)).toBe(true);
    expect(await highWatermark('interrupted')).toBe(0);

    // Act
    child.kill('SIGINT');

    // Assess
    expect(await exited).toBe(0);
    expect(await highWatermark('interrupted')).toBe(3);
    expect(stderr).toMatch(/POST \/v1\/topics\/interrupted\/records 200 \d+ ms\n/);
    expect(stderr).toMatch(/Interrupted\. Produced 3 records in [\d.]+ s: lines 1-3 acknowledged\.\n$/);
  });

  it("accepts values up to the topic's max.message.bytes, counting UTF-8 bytes exactly (a 900,000-byte line of 2-byte characters)", async () => {
    // Prepare: before, a string's size was bounded as 3 bytes per character, so these were refused.
    await api(stack.url, 'POST', '/v1/topics', { name: 'large', partitions: 1 });
    const accented = 'é'.repeat(450_000);
    const ascii = 'x'.repeat(400_000);

    // Act
    const produced = await sluice(['produce', 'large'], `${accented}\n${ascii}\n`);
    const tooLarge = await sluice(['produce', 'large'], `${'y'.repeat(1_048_588)}\n`);
    const consumed = await sluice(['consume', 'large', '--from-beginning', '-f', '%S\\n']);

    // Assess
    expect(produced.code).toBe(0);
    expect(consumed.stdout).toBe('900000\n400000\n');
    expect(tooLarge.code).toBe(1);
    expect(tooLarge.stderr).toMatch(/Produced 0 records in [\d.]+ s: no line acknowledged; lines 1-1 not all acknowledged\.\nMESSAGE_TOO_LARGE: /);
  });

  it('reads hex keys, base64 values, Kafka 3.2 headers and a null marker for tombstones', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'formats', partitions: 1 });
    const input = 'trace:1,who:NULL,tag:a,tag:b\t6869 aGVsbG8=\n\t00ff NULL\nNULL\r\n';
    const run = await sluice(['produce', 'formats', '--parse-headers', '-K', ' ', '--key-format', 'hex', '--value-format', 'base64', '--null-marker', 'NULL', '-H', 'src=cli,v2'], input);
    expect(run.code).toBe(1);
    // Line 3 has no key separator: the two lines before it are produced and the summary says so.
    expect(run.stderr).toMatch(/lines 1-2 acknowledged\.\nINVALID_RECORD: Line 3 has no headers delimiter "\\t"\n$/);
    const got = await records('formats');
    expect(got.map(({ key, value }) => ({ key, value }))).toEqual([
      { key: b64('hi'), value: b64('hello') },
      { key: b64(Buffer.from([0, 255])), value: null },
    ]);
    // The JSON fetch shows header values as UTF-8, and the last value of a repeated key.
    expect(got[0]?.headers).toEqual({ src: 'cli,v2', trace: '1', who: null, tag: 'b' });
    expect(got[1]?.headers).toEqual({ src: 'cli,v2' });
    const bad = await sluice(['produce', 'formats', '--value-format', 'hex'], 'abc\n');
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/INVALID_RECORD: Line 1 has a value that is not hex/) });
  });

  it('keeps raw values byte for byte, split at the -D delimiter', async () => {
    await api(stack.url, 'POST', '/v1/topics', { name: 'raw', partitions: 1 });
    const first = Buffer.from([0x0a, 0x0d, 0xff, 0xfe, 0x80]);
    const second = Buffer.from('line\r\n');
    const run = await sluice(['produce', 'raw', '--value-format', 'raw', '-D', '\\0'], Buffer.concat([first, Buffer.from([0]), second]));
    expect(run.code).toBe(0);
    expect((await records('raw')).map((r) => r.value)).toEqual([b64(first), b64(second)]);
  });
});
