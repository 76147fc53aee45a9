/**
 * Partitioners for `sluice.producer({ createPartitioner })`, with kafkajs's signature: a
 * factory called once per producer, returning a function called for every message that has
 * no explicit `partition`. Without the option, keys go where Kafka puts them (murmur2) and
 * keyless records use the sticky partitioner; that default never changes.
 *
 * A bad key makes one partition hot (issue 12). Two ways to spread it, both in docs/CLIENT.md:
 * - a compound key (`compoundKey(adId, userId)`) when order only matters per finer key: the
 *   default partitioner then spreads the coarse key's records by the finer one;
 * - `Partitioners.salted({ fanout })` when one key must keep its identity: its records go
 *   round robin over `fanout` partitions starting at the key's own, and per-key order holds
 *   only inside each of them.
 */
import { SluiceError } from '../errors.ts';
import { partitionForKey } from '../log/partitioner.ts';
import type { Bytes, Message } from './types.ts';

/** One partition as kafkajs describes it to a partitioner; Sluice has no brokers, so leader and replicas are 0. */
export interface PartitionMetadata {
  partitionErrorCode: number;
  partitionId: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

/** What a partitioner is called with (kafkajs's PartitionerArgs). */
export interface PartitionerArgs {
  topic: string;
  partitionMetadata: PartitionMetadata[];
  message: Message;
}

/** Picks a message's partition: an integer in [0, partitionMetadata.length). */
export type PartitionerFunction = (args: PartitionerArgs) => number;

/** kafkajs's ICustomPartitioner: called once per producer. */
export type ICustomPartitioner = () => PartitionerFunction;

export interface SaltedOptions {
  /** Partitions one key is spread over (capped at the topic's count). 1 is the default partitioner's mapping. */
  fanout: number;
  /** Salt only keys this says are hot; others keep their murmur2 partition (and their order). @default - every key */
  isHot?: (key: Buffer) => boolean;
}

function keyBytes(key: Bytes): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
}

/**
 * The partitions `salted({ fanout })` may put `key` on: its murmur2 partition and the
 * `fanout - 1` after it, wrapping. A consumer that needs all of a key's records reads these.
 */
export function saltedPartitions(key: Bytes, partitions: number, fanout: number): number[] {
  const base = partitionForKey(keyBytes(key), partitions);
  return Array.from({ length: Math.min(fanout, partitions) }, (_, i) => (base + i) % partitions);
}

function defaultPartitioner(): PartitionerFunction {
  // Never called: the producer recognises this marker and keeps its own murmur2 + sticky path.
  return () => {
    throw new Error('Partitioners.DefaultPartitioner is applied by the producer itself');
  };
}

function salted(options: SaltedOptions): ICustomPartitioner {
  const { fanout, isHot } = options;
  if (!Number.isSafeInteger(fanout) || fanout < 1) throw new SluiceError('INVALID_CONFIG', `Partitioners.salted: fanout must be an integer ≥ 1, got ${JSON.stringify(fanout)}`);
  return () => {
    // Round robin rather than random: a hot key's records spread evenly over its partitions.
    let counter = 0;
    return ({ partitionMetadata, message }) => {
      const partitions = partitionMetadata.length;
      if (message.key === undefined || message.key === null) return counter++ % partitions;
      const key = keyBytes(message.key);
      const base = partitionForKey(key, partitions);
      if (isHot !== undefined && !isHot(key)) return base;
      return (base + (counter++ % Math.min(fanout, partitions))) % partitions;
    };
  };
}

export const Partitioners = {
  /** Kafka's murmur2 for keys and the sticky partitioner for keyless records: the same as giving no createPartitioner. */
  DefaultPartitioner: defaultPartitioner as ICustomPartitioner,
  /** Spreads each (hot) key over `fanout` partitions; per-key order holds only within each partition. */
  salted,
};

/**
 * A key made of several fields, e.g. `compoundKey(adId, userId)` → `"ad-42:user-7"`. A ':' or
 * '\' inside a field is escaped with '\', so different field lists never make the same key.
 */
export function compoundKey(...fields: ReadonlyArray<string | number>): string {
  if (fields.length === 0) throw new SluiceError('INVALID_REQUEST', 'compoundKey needs at least one field');
  return fields.map((f) => String(f).replace(/[\\:]/g, (c) => `\\${c}`)).join(':');
}
