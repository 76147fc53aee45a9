import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { getTopic } from '../../lib/log/topics.ts';
import { readPartition } from '../../lib/log/read.ts';
import { readIndex } from '../../lib/retention/partition-items.ts';
import { mergeRun } from '../../lib/retention/steps.ts';
import { createStorage, type Storage } from '../../lib/storage/clients.ts';
import { partitionPk, type IndexEntryItem } from '../../lib/storage/schema.ts';
import { api, startTestStack } from '../support/stack.ts';

let stack: LocalStack;
const savedTrigger = process.env.SLUICE_COMPACT_FUNCTION;
beforeAll(async () => {
  stack = await startTestStack();
  process.env.SLUICE_COMPACT_FUNCTION = '';
});
afterAll(async () => {
  process.env.SLUICE_COMPACT_FUNCTION = savedTrigger;
  await stack?.close();
});

/**
 * A Storage whose first index Query answers `torn(items)` instead of what DynamoDB read: the
 * view a Query racing a merge's transaction can get on AWS (isolation is per item), which
 * DynamoDB Local never produces. Later queries are real. Counts the index queries.
 */
function tornOnce(torn: (items: IndexEntryItem[]) => IndexEntryItem[]): { storage: Storage; queries: () => number } {
  const storage = createStorage(stack.storage.env);
  let queries = 0;
  storage.ddb.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName !== 'QueryCommand') return result;
      queries++;
      if (queries > 1) return result;
      const output = result.output as { Items?: Array<Record<string, unknown>> };
      output.Items = torn((output.Items ?? []) as unknown as IndexEntryItem[]) as unknown as Array<Record<string, unknown>>;
      return result;
    },
    { step: 'initialize' },
  );
  return { storage, queries: () => queries };
}

/** Ten one-record segments merged into one entry; returns the entries from before the merge. */
async function mergedTopic(name: string): Promise<IndexEntryItem[]> {
  expect((await api(stack.url, 'POST', '/v1/topics', { name, partitions: 1, configs: { 'retention.ms': -1 } })).status).toBe(201);
  for (let i = 0; i < 10; i++) expect((await api(stack.url, 'POST', `/v1/topics/${name}/records`, { records: [{ value: `v${i}` }] })).status).toBe(200);
  const topic = await getTopic(stack.storage, name);
  const pk = partitionPk(topic.topicId, 0);
  const before = await readIndex(stack.storage, pk);
  // The old objects stay for the grace period, as they do for a fetch racing a real merge.
  expect(await mergeRun(stack.storage, topic, 0, pk, before, Date.now(), Date.now() + 3_600_000)).toBe(true);
  return before;
}

async function offsetsRead(storage: Storage, name: string): Promise<number[]> {
  const result = await readPartition(storage, await getTopic(storage, name), 0, 0, { maxBytes: 4 * 1024 * 1024 });
  return result.batches.map((b) => b.baseOffset);
}

describe('a fetch racing a merge (a torn view of the index)', () => {
  it('reads again when it sees old entries beside the merged one (overlapping offsets)', async () => {
    const before = await mergedTopic('torn-overlap');
    // Nine of the old entries are still visible beside the merged entry that replaced all ten.
    const { storage, queries } = tornOnce((items) => [...before.slice(0, 9), ...items]);
    expect(await offsetsRead(storage, 'torn-overlap')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(queries()).toBe(2);
  });

  it('reads again when it sees neither the old entries nor the merged one (skipped offsets)', async () => {
    const before = await mergedTopic('torn-gap');
    // The first nine old entries are gone, the merged entry is not visible yet: only the old last one is.
    const { storage, queries } = tornOnce(() => [before[9] as IndexEntryItem]);
    expect(await offsetsRead(storage, 'torn-gap')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(queries()).toBe(2);
  });
});
