/**
 * What `sluice groups reset-offsets` would commit, computed before anything changes so a dry
 * run (the default, as kafka-consumer-groups) prints exactly what `--execute` commits. Each
 * new offset is clamped into the partition's log, as Kafka clamps.
 */
import { SluiceError } from '../lib/errors.ts';
import type { Admin, TopicPartitionOffset } from '../lib/client/index.ts';

/** A `--topic` value: a topic, optionally with partitions (`t:0,1`). */
export interface TopicSelection {
  topic: string;
  /** @default - every partition */
  partitions?: number[];
}

export type ResetTarget =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offset'; offset: number }
  | { kind: 'timestamp'; timestampMs: number }
  | { kind: 'shift'; by: number }
  | { kind: 'current' };

/** Parses `t` or `t:0,1,2`. */
export function topicSelection(value: string): TopicSelection {
  const match = /^([^:]+)(?::(\d+(?:,\d+)*))?$/.exec(value);
  if (match === null) throw new SluiceError('INVALID_REQUEST', `--topic takes a topic or topic:partition,partition…, got ${JSON.stringify(value)}`);
  const topic = match[1] as string;
  return match[2] === undefined ? { topic } : { topic, partitions: [...new Set(match[2].split(',').map(Number))] };
}

export interface PlannedOffset extends TopicPartitionOffset {
  /** The committed offset before the reset; null when the group had none. */
  current: number | null;
}

/**
 * The new offset of every selected partition. Partitions without a committed offset are
 * left out of `--shift-by` and `--to-current` (there is nothing to shift), and reported in
 * `skipped`.
 */
export async function planReset(admin: Admin, group: string, selections: readonly TopicSelection[], target: ResetTarget): Promise<{ offsets: PlannedOffset[]; skipped: string[] }> {
  const committed = new Map((await admin.fetchOffsets(group)).map((o) => [`${o.topic}:${o.partition}`, o.offset]));
  const offsets: PlannedOffset[] = [];
  const skipped: string[] = [];
  for (const selection of selections) {
    const { partitions } = await admin.describeTopic(selection.topic);
    const missing = (selection.partitions ?? []).filter((p) => p >= partitions.length);
    if (missing.length > 0) throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${selection.topic} has ${partitions.length} partitions, no partition ${missing.join(', ')}`);
    const chosen = selection.partitions === undefined ? partitions : partitions.filter((p) => selection.partitions?.includes(p.partition));
    for (const p of chosen) {
      const current = committed.get(`${selection.topic}:${p.partition}`) ?? null;
      const clamp = (offset: number) => Math.min(Math.max(offset, p.logStartOffset), p.highWatermark);
      let offset: number;
      switch (target.kind) {
        case 'earliest':
          offset = p.logStartOffset;
          break;
        case 'latest':
          offset = p.highWatermark;
          break;
        case 'offset':
          offset = clamp(target.offset);
          break;
        case 'timestamp':
          offset = (await admin.listOffsets(selection.topic, p.partition, target.timestampMs)).offset;
          break;
        case 'shift':
        case 'current':
          if (current === null) {
            skipped.push(`${selection.topic}:${p.partition}`);
            continue;
          }
          offset = clamp(target.kind === 'shift' ? current + target.by : current);
          break;
      }
      offsets.push({ topic: selection.topic, partition: p.partition, offset, current });
    }
  }
  return { offsets, skipped };
}

/** Commits a plan, refusing with NON_EMPTY_GROUP while the group has live members. */
export async function executeReset(admin: Admin, group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
  const members = await admin.describeGroup(group).then(
    (g) => g.members.length,
    (error: unknown) => {
      // A group never seen is empty: resetting it is how a new group starts somewhere else.
      if (error instanceof SluiceError && error.code === 'GROUP_ID_NOT_FOUND') return 0;
      throw error;
    },
  );
  if (members > 0) throw new SluiceError('NON_EMPTY_GROUP', `Group ${group} has ${members} live member(s); offsets can be reset only while it is empty`);
  if (offsets.length > 0) await admin.commitOffsets(group, offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
}
