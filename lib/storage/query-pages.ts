/**
 * DynamoDB Query, a page at a time: the one pagination loop, so every reader of a partition
 * or an index streams it and none forgets LastEvaluatedKey.
 */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Storage } from './clients.ts';

/** Yields each non-empty page of `input` on the table, following LastEvaluatedKey to the end. */
export async function* queryPages<T>(storage: Storage, input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): AsyncGenerator<T[]> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await storage.ddb.send(new QueryCommand({ ...input, TableName: storage.env.tableName, ExclusiveStartKey: startKey }));
    const items = (page.Items ?? []) as T[];
    if (items.length > 0) yield items;
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
}
