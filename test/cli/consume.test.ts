import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { progressWanted } from '../../cli/progress.ts';
import { api, startTestStack } from '../support/stack.ts';
import { eventually, runCli, startCli } from './cli-runner.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sluice = (args: string[], url = stack.url) => runCli(args, url);
const sortedLines = (text: string) => text.split('\n').filter((l) => l !== '').sort();

async function produce(topic: string, records: Array<{ value: string; partition?: number; timestamp?: number }>): Promise<void> {
  expect((await api(stack.url, 'POST', `/v1/topics/${topic}/records`, { records })).status).toBe(200);
}

/** A TCP proxy to the stack that can go away and come back on the same port, as a restarted server does. */
async function restartableProxy(targetUrl: string): Promise<{ url: string; down(): Promise<void>; up(): Promise<void> }> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = createConnection(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  };
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    down: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
    up: listen,
  };
}

describe('sluice consume', () => {
  it('starts N back from the end with -o -N, stops before --until, and notes a start outside the log', async () => {
    // Prepare: 2 partitions of 10 records, timestamps a second apart.
    await api(stack.url, 'POST', '/v1/topics', { name: 'ranged', partitions: 2 });
    const baseMs = Date.now() - 60_000;
    for (const partition of [0, 1]) await produce('ranged', Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition, timestamp: baseMs + i * 1000 })));

    // Act
    const lastThree = await sluice(['consume', 'ranged', '-o', '-3', '-f', '%p:%o\\n']);
    const untilOffset = await sluice(['consume', 'ranged', '--from-beginning', '--until', '2', '-f', '%p:%o\\n']);
    const untilTime = await sluice(['consume', 'ranged', '-p', '1', '-o', 'earliest', '--until', `@${baseMs + 4000}`, '-f', '%p:%o\\n']);
    const outside = await sluice(['consume', 'ranged', '-p', '0', '-o', '50']);

    // Assess
    expect(sortedLines(lastThree.stdout)).toEqual(['0:7', '0:8', '0:9', '1:7', '1:8', '1:9']);
    expect(sortedLines(untilOffset.stdout)).toEqual(['0:0', '0:1', '1:0', '1:1']);
    expect(untilTime.stdout).toBe('1:0\n1:1\n1:2\n1:3\n');
    expect(outside).toMatchObject({ code: 0, stdout: '', stderr: "Note: offset 50 is outside ranged/0's log [0, 10]; starting at 10.\n" });
  });

  it('reads several topics, or those an --include regex matches, alone or as a group, and logs requests with -v', async () => {
    // Prepare
    for (const name of ['multi-a', 'multi-b', 'other']) {
      await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1 });
      await produce(name, [{ value: `from ${name}` }]);
    }

    // Act
    const named = await sluice(['-v', 'consume', 'multi-a', 'other', '--from-beginning', '-f', '%t %s\\n']);
    const included = await sluice(['consume', '--include', 'multi-.*', '--from-beginning', '-f', '%t %s\\n']);
    const grouped = await sluice(['consume', '--include', 'multi-.*', '--group', 'multi-readers', '--from-beginning', '-f', '%t %s\\n']);

    // Assess
    expect(sortedLines(named.stdout)).toEqual(['multi-a from multi-a', 'other from other']);
    expect(named.stderr).toMatch(/^GET \/v1\/topics\/multi-a 200 \d+ ms$/m);
    expect(named.stderr).toMatch(/^GET \/v1\/topics\/other\/partitions\/0\/records\?offset=0&\S* 200 \d+ ms$/m);
    expect(sortedLines(included.stdout)).toEqual(['multi-a from multi-a', 'multi-b from multi-b']);
    expect(sortedLines(grouped.stdout)).toEqual(['multi-a from multi-a', 'multi-b from multi-b']);
    const described = (await api(stack.url, 'GET', '/v1/groups/multi-readers')).body as { partitions: Array<{ topic: string; committedOffset: number }> };
    expect(described.partitions.map((p) => [p.topic, p.committedOffset]).sort()).toEqual([['multi-a', 1], ['multi-b', 1]]);
    expect(await sluice(['consume', '--include', 'nothing-.*'])).toMatchObject({ code: 1, stderr: 'UNKNOWN_TOPIC_OR_PARTITION: No topic matches --include "nothing-.*"\n' });
  });

  it('with --include and --follow, picks up matching topics created after it started and reads them from their first record', async () => {
    // Prepare: one matching topic at start; the group member starts with none.
    await api(stack.url, 'POST', '/v1/topics', { name: 'grow-a', partitions: 1 });
    await produce('grow-a', [{ value: 'a0' }]);
    const collect = (args: string[]) => {
      const child = startCli(args, stack.url);
      const out = { stdout: '', stderr: '', exited: new Promise<number | null>((resolve) => child.on('close', resolve)) };
      child.stdout.on('data', (chunk: Buffer) => (out.stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()));
      return out;
    };
    const alone = collect(['consume', '--include', 'grow-.*', '--from-beginning', '--follow', '--metadata-max-age-ms', '200', '--max-messages', '3', '-f', '%t %s\\n']);
    const grouped = collect(['consume', '--include', 'late-.*', '--group', 'late-readers', '--follow', '--metadata-max-age-ms', '200', '--max-messages', '2', '-f', '%t %s\\n']);
    expect(await eventually(async () => alone.stdout === 'grow-a a0\n', 30_000)).toBe(true);

    // Act: a topic that does not match, then matching ones, each with records before the CLI can have looked.
    await api(stack.url, 'POST', '/v1/topics', { name: 'elsewhere', partitions: 1 });
    await produce('elsewhere', [{ value: 'not for us' }]);
    for (const name of ['grow-b', 'late-x']) {
      await api(stack.url, 'POST', '/v1/topics', { name, partitions: 2 });
      await produce(name, [
        { value: `${name} 0`, partition: 0 },
        { value: `${name} 1`, partition: 1 },
      ]);
    }

    // Assess
    expect(await alone.exited).toBe(0);
    expect(await grouped.exited).toBe(0);
    expect(sortedLines(alone.stdout)).toEqual(['grow-a a0', 'grow-b grow-b 0', 'grow-b grow-b 1']);
    expect(sortedLines(grouped.stdout)).toEqual(['late-x late-x 0', 'late-x late-x 1']);
    const described = (await api(stack.url, 'GET', '/v1/groups/late-readers')).body as { partitions: Array<{ topic: string; committedOffset: number }> };
    expect(described.partitions.map((p) => [p.topic, p.committedOffset]).sort()).toEqual([['late-x', 1], ['late-x', 1]]);
  });

  it('keeps following across a server restart, retrying with backoff', async () => {
    // Prepare: the consumer rides out the outage itself and the CLI notes every retried attempt.
    await api(stack.url, 'POST', '/v1/topics', { name: 'survivor', partitions: 1 });
    await produce('survivor', [{ value: 'before' }]);
    const proxy = await restartableProxy(stack.url);
    const child = startCli(['--retries', '0', 'consume', 'survivor', '--from-beginning', '--follow', '--max-messages', '2'], proxy.url);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(await eventually(async () => stdout === 'before\n', 30_000)).toBe(true);

    // Act: the server goes away for a while, then comes back; a record arrives meanwhile.
    await proxy.down();
    expect(await eventually(async () => (stderr.match(/retrying in/g) ?? []).length >= 2, 15_000)).toBe(true);
    await produce('survivor', [{ value: 'after' }]);
    await proxy.up();

    // Assess
    expect(await exited).toBe(0);
    expect(stdout).toBe('before\nafter\n');
    expect(stderr).toMatch(/^Lost the server \(REQUEST_TIMED_OUT: .+\); retrying in \d+\.\d s$/m);
  });

  it('draws a progress bar only when stderr is a terminal that records are not printed to', () => {
    expect(progressWanted({ stdout: false, stderr: true })).toBe(true);
    expect(progressWanted({ stdout: true, stderr: true })).toBe(false);
    expect(progressWanted({ stdout: false, stderr: false })).toBe(false);
  });
});
