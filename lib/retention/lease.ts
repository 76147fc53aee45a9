/**
 * One compaction run per partition at a time. Every write a run makes is conditional on
 * the state it read, so two runs could not corrupt the index anyway; the lease keeps them
 * from wasting work (two merges of the same run, one of which must fail).
 *
 *   run A: acquire(exp = t+5min) ✓ ───── work ───── release
 *   run B:        acquire ✗ (held, not expired) → skips the partition
 *   run C (A crashed): acquire after t+5min ✓ (expired leases are taken over)
 */
import { randomUUID } from 'node:crypto';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Storage } from '../storage/clients.ts';
import { isConditionFailure } from '../storage/conditions.ts';
import { TTL_ATTRIBUTE } from '../storage/provision.ts';

const LEASE_SK = 'LEASE';
const leaseFree = 'attribute_not_exists(pk) OR expiresAtMs < :now';

export interface Lease {
  readonly owner: string;
  release(): Promise<void>;
}

/** Takes the partition's compaction lease, or returns undefined when another run holds it. */
export async function acquireLease(storage: Storage, pk: string, nowMs: number, leaseMs: number): Promise<Lease | undefined> {
  const owner = randomUUID();
  const expiresAtMs = nowMs + leaseMs;
  try {
    await storage.ddb.send(
      new PutCommand({
        TableName: storage.env.tableName,
        // The TTL attribute lets DynamoDB sweep leases of partitions that no longer exist.
        Item: { pk, sk: LEASE_SK, owner, expiresAtMs, [TTL_ATTRIBUTE]: Math.ceil(expiresAtMs / 1000) + 86_400 },
        ConditionExpression: leaseFree,
        ExpressionAttributeValues: { ':now': nowMs },
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
  return {
    owner,
    release: async () => {
      try {
        await storage.ddb.send(
          new DeleteCommand({ TableName: storage.env.tableName, Key: { pk, sk: LEASE_SK }, ConditionExpression: '#owner = :owner', ExpressionAttributeNames: { '#owner': 'owner' }, ExpressionAttributeValues: { ':owner': owner } }),
        );
      } catch (error) {
        // Expired and taken over by another run: theirs now.
        if (!isConditionFailure(error)) throw error;
      }
    },
  };
}
