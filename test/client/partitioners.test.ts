import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { compoundKey, Partitioners, partitionForKey, saltedPartitions, Sluice, SluiceError, type PartitionMetadata } from '../../lib/client/index.ts';
import { startTestStack } from '../support/stack.ts';
import { createTopic, readAll } from './helpers.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const metadata = (n: number): PartitionMetadata[] => Array.from({ length: n }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0] }));

describe('Function: compoundKey', () => {
  it('joins fields with ":" and escapes ":" and "\\" inside them, so different field lists never collide', () => {
    expect(compoundKey('ad-42', 'user-7')).toBe('ad-42:user-7');
    expect(compoundKey('a:b', 'c')).not.toBe(compoundKey('a', 'b:c'));
    expect(compoundKey('a\\', 'b')).not.toBe(compoundKey('a', '\\b'));
    expect(compoundKey(42, 7)).toBe('42:7');
    expect(() => compoundKey()).toThrow(SluiceError);
  });
});

describe('Function: Partitioners.salted', () => {
  it('spreads one key round robin over fanout partitions starting at its murmur2 partition', () => {
    const partition = Partitioners.salted({ fanout: 4 })();
    const chosen = Array.from({ length: 400 }, () => partition({ topic: 't', partitionMetadata: metadata(16), message: { key: 'ad-42', value: 'x' } }));
    const expected = saltedPartitions('ad-42', 16, 4);
    expect(expected[0]).toBe(partitionForKey(Buffer.from('ad-42'), 16));
    expect(new Set(chosen)).toEqual(new Set(expected));
    for (const p of expected) expect(chosen.filter((c) => c === p)).toHaveLength(100);
  });

  it('keeps keys that isHot says are cold on their murmur2 partition, and caps fanout at the partition count', () => {
    const partition = Partitioners.salted({ fanout: 8, isHot: (key) => key.toString() === 'viral' })();
    const cold = Array.from({ length: 20 }, () => partition({ topic: 't', partitionMetadata: metadata(4), message: { key: 'quiet', value: 'x' } }));
    expect(new Set(cold)).toEqual(new Set([partitionForKey(Buffer.from('quiet'), 4)]));
    const hot = Array.from({ length: 20 }, () => partition({ topic: 't', partitionMetadata: metadata(4), message: { key: 'viral', value: 'x' } }));
    expect(new Set(hot)).toEqual(new Set([0, 1, 2, 3]));
  });

  it.each([0, -1, 1.5, Number.NaN])('fails if fanout is %s', (fanout) => {
    expect(() => Partitioners.salted({ fanout })).toThrow(/fanout must be an integer ≥ 1/);
  });
});

describe('Option: producer({ createPartitioner })', () => {
  it('places a hot key over fanout partitions with salted, each partition in send order', async () => {
    // Prepare
    await createTopic(stack.url, 'clicks', 8);
    const producer = new Sluice({ url: stack.url }).producer({ createPartitioner: Partitioners.salted({ fanout: 4 }), lingerMs: 20 });
    const messages = Array.from({ length: 200 }, (_, i) => ({ key: 'ad-42', value: String(i) }));

    // Act
    const results = await producer.send({ topic: 'clicks', messages });
    await producer.disconnect();

    // Assess
    const holding = saltedPartitions('ad-42', 8, 4);
    expect(new Set(results.map((r) => r.partition))).toEqual(new Set(holding));
    for (const p of holding) {
      const values = (await readAll(stack.url, 'clicks', p)).map((r) => Number(r.value));
      expect(values).toHaveLength(50);
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  it('keeps Kafka’s murmur2 mapping with Partitioners.DefaultPartitioner, as without the option', async () => {
    await createTopic(stack.url, 'default-keys', 5);
    const producer = new Sluice({ url: stack.url }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const results = await producer.send({ topic: 'default-keys', messages: Array.from({ length: 50 }, (_, i) => ({ key: `user-${i}`, value: 'v' })) });
    await producer.disconnect();
    for (const [i, r] of results.entries()) expect(r.partition).toBe(partitionForKey(Buffer.from(`user-${i}`), 5));
  });

  it('calls a custom partitioner with kafkajs’s arguments, and fails a message it places outside the topic', async () => {
    await createTopic(stack.url, 'custom', 3);
    const seen: Array<{ topic: string; partitions: number; key: unknown }> = [];
    const producer = new Sluice({ url: stack.url }).producer({
      createPartitioner: () => ({ topic, partitionMetadata, message }) => {
        seen.push({ topic, partitions: partitionMetadata.length, key: message.key });
        return message.key === 'bad' ? 7 : partitionMetadata.length - 1;
      },
    });

    const ok = await producer.send({ topic: 'custom', messages: [{ key: 'a', value: '1' }, { value: '2', partition: 0 }] });
    const refused = await producer.send({ topic: 'custom', messages: [{ key: 'bad', value: '3' }] }).catch((e: unknown) => e);
    await producer.disconnect();

    expect(ok.map((r) => r.partition)).toEqual([2, 0]);
    expect(seen).toEqual([{ topic: 'custom', partitions: 3, key: 'a' }, { topic: 'custom', partitions: 3, key: 'bad' }]);
    expect(refused).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('returned 7') });
    expect(await readAll(stack.url, 'custom', 2)).toHaveLength(1);
  });
});
