import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { Sluice } from '../../lib/client/index.ts';
import { forwardHeaders } from '../../lib/client/retry-headers.ts';
import { readAll } from '../client/helpers.ts';
import { api, startTestStack } from '../support/stack.ts';
import { runCli, type Run } from './cli-runner.ts';

let stack: LocalStack;
let sluice: Sluice;
beforeAll(async () => {
  stack = await startTestStack();
  sluice = new Sluice({ url: stack.url });
  // Two dead letters of `orders` (as consumer.run({ retry }) writes them) and one without retry headers.
  for (const [name, partitions] of [['orders', 2], ['orders.dlq', 2], ['orders-fixed', 1]] as const) expect((await api(stack.url, 'POST', '/v1/topics', { name, partitions })).status).toBe(201);
  const producer = sluice.producer();
  const failed = (offset: number, partition: number, error: Error, reason: 'exhausted' | 'not-retriable', attempt: number) =>
    forwardHeaders({ trace: Buffer.from(`t${offset}`) }, { topic: 'orders', partition, offset, timestampMs: 1_700_000_000_000 + offset }, attempt, error, { deadLetterReason: reason });
  await producer.send({
    topic: 'orders.dlq',
    messages: [
      { partition: 1, key: 'user-7', value: 'pay(7)', headers: failed(41, 1, new TypeError('bad amount'), 'not-retriable', 1) },
      { partition: 1, key: 'user-9', value: 'pay(9)', headers: failed(57, 1, new Error('timeout calling bank'), 'exhausted', 3) },
    ],
  });
  await producer.disconnect();
});
afterAll(async () => {
  await stack?.close();
});

const cli = (args: string[]): Promise<Run> => runCli(args, stack.url);
const jsonLines = (run: Run) => run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('sluice dlq', () => {
  it('inspect lists each dead letter with its origin, attempts and error', async () => {
    // Act
    const [human, json] = await Promise.all([cli(['dlq', 'inspect', 'orders.dlq']), cli(['dlq', 'inspect', 'orders.dlq', '--json'])]);

    // Assess
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout.split('\n')[0]).toMatch(/^PARTITION +OFFSET +KEY +ORIGIN +ATTEMPTS +REASON +ERROR$/);
    expect(human.stdout).toMatch(/1 +0 +user-7 +orders\/1@41 +1 +not-retriable +TypeError: bad amount\n/);
    expect(human.stdout).toMatch(/1 +1 +user-9 +orders\/1@57 +3 +exhausted +Error: timeout calling bank\n/);
    expect(jsonLines(json)).toEqual([
      { partition: 1, offset: 0, timestamp: expect.any(Number), key: 'user-7', origin: { topic: 'orders', partition: 1, offset: 41, timestampMs: 1_700_000_000_041 }, attempts: 1, error: { name: 'TypeError', message: 'bad amount' }, reason: 'not-retriable' },
      { partition: 1, offset: 1, timestamp: expect.any(Number), key: 'user-9', origin: { topic: 'orders', partition: 1, offset: 57, timestampMs: 1_700_000_000_057 }, attempts: 3, error: { name: 'Error', message: 'timeout calling bank' }, reason: 'exhausted' },
    ]);
  });

  it('replay is a dry run by default; --execute sends each dead letter home, or to the --to topic, without the retry headers', async () => {
    // Act
    const dry = await cli(['dlq', 'replay', 'orders.dlq']);
    const afterDry = await readAll(stack.url, 'orders', 1);
    const home = await cli(['dlq', 'replay', 'orders.dlq', '--execute']);
    const elsewhere = await cli(['dlq', 'replay', 'orders.dlq', '--to', 'orders-fixed', '--execute', '--json']);

    // Assess
    expect(dry).toMatchObject({ code: 0, stdout: 'orders.dlq/1@0 key=user-7 (orders/1@41) -> orders\norders.dlq/1@1 key=user-9 (orders/1@57) -> orders\n' });
    expect(dry.stderr).toContain('Dry run: nothing was sent; add --execute to replay these 2 dead letters.');
    expect(afterDry).toEqual([]);
    expect(home).toMatchObject({ code: 0, stdout: 'orders.dlq/1@0 key=user-7 (orders/1@41) -> orders/1@0\norders.dlq/1@1 key=user-9 (orders/1@57) -> orders/1@1\n' });
    const replayed = await readAll(stack.url, 'orders', 1);
    expect(replayed.map((r) => [r.key, r.value, r.headers])).toEqual([
      ['user-7', 'pay(7)', { trace: 't41' }],
      ['user-9', 'pay(9)', { trace: 't57' }],
    ]);
    expect(await readAll(stack.url, 'orders', 0)).toEqual([]);
    expect(jsonLines(elsewhere).map((r) => [r.key, r.to, r.placed])).toEqual([
      ['user-7', 'orders-fixed', { partition: 0, offset: 0 }],
      ['user-9', 'orders-fixed', { partition: 0, offset: 1 }],
    ]);
    // The dead-letter topic is left as it was.
    expect(await readAll(stack.url, 'orders.dlq', 1)).toHaveLength(2);
  });

  it('replay --to original refuses a record without an origin header, naming it', async () => {
    // Prepare
    expect((await api(stack.url, 'POST', '/v1/topics', { name: 'hand-made.dlq', partitions: 1 })).status).toBe(201);
    const producer = sluice.producer();
    await producer.send({ topic: 'hand-made.dlq', messages: [{ value: 'orphan' }] });
    await producer.disconnect();

    // Act
    const run = await cli(['dlq', 'replay', 'hand-made.dlq', '--execute']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('INVALID_REQUEST: hand-made.dlq/0@0 has no sluice.original.topic header: name a topic with --to <topic>');
  });
});
