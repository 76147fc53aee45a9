import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { COMPACTION } from '../config/defaults.ts';
import { listTopics, getTopic, readHeads } from '../log/topics.ts';
import { readPartitionState } from '../log/read.ts';
import type { Storage } from '../storage/clients.ts';
import { HEAD_SK, partitionPk, partitionPrefix, type TopicItem } from '../storage/schema.ts';
import { acquireLease } from './lease.ts';
import { compactKeys } from './key-compaction.ts';
import { deleteDeadIncarnations, deleteOrphans } from './orphans.ts';
import { readIndex, readPendingDeletes } from './partition-items.ts';
import { planMerges, planRetention } from './plan.ts';
import { deleteDueObjects, mergeRun, removeOldest, retagEntries, type CompactionHooks } from './steps.ts';

export type CompactionSettings = { -readonly [K in keyof typeof COMPACTION]: number };

export interface CompactionOptions {
  /** Injectable clock. */
  nowMs?: number;
  settings?: Partial<CompactionSettings>;
  hooks?: CompactionHooks;
}

/** What one run did to one partition. */
export interface PartitionReport {
  topic: string;
  partition: number;
  /** False when another run held the lease. */
  ran: boolean;
  removedSegments: number;
  mergedRuns: number;
  deletedObjects: number;
  deletedOrphans: number;
  /** Entries rewritten by key compaction (cleanup.policy=compact). */
  compactedSegments: number;
  /** Objects given a longer lifecycle expiry tag after retention.ms grew. */
  retaggedObjects: number;
  logStartOffset: number;
}

/** The thresholds in force: defaults, then SLUICE_<NAME> environment overrides, then `overrides`. */
export function compactionSettings(overrides: Partial<CompactionSettings> = {}, env: NodeJS.ProcessEnv = process.env): CompactionSettings {
  const settings = { ...COMPACTION } as CompactionSettings;
  for (const name of Object.keys(settings) as Array<keyof CompactionSettings>) {
    const variable = `SLUICE_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const value = Number(env[variable]);
    if (env[variable] !== undefined && Number.isFinite(value) && value >= 0) settings[name] = value;
  }
  return { ...settings, ...overrides };
}

/**
 * One compaction pass over one partition, under its lease: delete objects whose grace
 * period is over, apply retention, merge small segments, collect orphans, and record the
 * time on the head. Every step is conditional on the state it read.
 */
export async function compactPartition(storage: Storage, topic: TopicItem, partition: number, options: CompactionOptions = {}): Promise<PartitionReport> {
  const nowMs = options.nowMs ?? Date.now();
  const settings = compactionSettings(options.settings);
  const hooks = options.hooks ?? {};
  const pk = partitionPk(topic.topicId, partition);
  const report: PartitionReport = { topic: topic.name, partition, ran: false, removedSegments: 0, mergedRuns: 0, deletedObjects: 0, deletedOrphans: 0, compactedSegments: 0, retaggedObjects: 0, logStartOffset: 0 };
  const lease = await acquireLease(storage, pk, nowMs, settings.leaseMs);
  if (lease === undefined) return report;
  try {
    report.ran = true;
    report.deletedObjects = await deleteDueObjects(storage, await readPendingDeletes(storage, pk), nowMs, hooks);
    const head = await readPartitionState(storage, topic, partition);
    let entries = await readIndex(storage, pk);
    const retention = planRetention(entries, head.logStartOffset, topic.configs, nowMs);
    report.logStartOffset = retention.logStartOffset;
    if (retention.remove.length > 0) {
      await removeOldest(storage, pk, retention.remove, retention.logStartOffset, nowMs + settings.deleteGraceMs);
      await hooks.afterRetentionCommit?.();
      report.removedSegments = retention.remove.length;
      entries = entries.slice(retention.remove.length);
    }
    if (topic.configs['cleanup.policy'] !== 'delete') {
      report.compactedSegments = await compactKeys(storage, topic, partition, entries, nowMs, nowMs + settings.deleteGraceMs);
      if (report.compactedSegments > 0) entries = await readIndex(storage, pk);
    }
    report.retaggedObjects = await retagEntries(storage, topic, entries);
    for (const run of planMerges(entries, { ...settings, maxSegmentsPerMerge: 49 })) {
      if (await mergeRun(storage, topic, partition, pk, run, nowMs, nowMs + settings.deleteGraceMs, hooks)) report.mergedRuns++;
    }
    const referenced = new Set([...(await readIndex(storage, pk)).map((e) => e.objectKey), ...(await readPendingDeletes(storage, pk)).map((p) => p.objectKey)]);
    report.deletedOrphans = await deleteOrphans(storage, partitionPrefix(topic.name, partition, topic.topicId), referenced, nowMs, settings.orphanGraceMs);
    await storage.ddb.send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk, sk: HEAD_SK },
        UpdateExpression: 'SET lastCompactedAtMs = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':now': nowMs },
      }),
    ).catch((error: { name?: string }) => {
      // A partition never written to has no head to stamp.
      if (error.name !== 'ConditionalCheckFailedException') throw error;
    });
  } finally {
    await lease.release();
  }
  return report;
}

/** Compacts one partition of a topic by name (the asynchronous trigger's entry). */
export async function compactTopicPartition(storage: Storage, topicName: string, partition: number, options: CompactionOptions = {}): Promise<PartitionReport> {
  return compactPartition(storage, await getTopic(storage, topicName), partition, options);
}

/**
 * The scheduled pass: partitions that have data, least recently compacted first, until the
 * time budget is spent (the rest wait for the next pass, which starts with them), then
 * dead incarnations and deleted topics.
 */
export async function compactAll(storage: Storage, options: CompactionOptions & { budgetMs?: number } = {}): Promise<PartitionReport[]> {
  const startedAtMs = Date.now();
  const nowMs = options.nowMs ?? startedAtMs;
  const settings = compactionSettings(options.settings);
  const topics = await listTopics(storage);
  const work: Array<{ topic: TopicItem; partition: number; lastCompactedAt: number }> = [];
  for (const topic of topics) {
    for (const head of await readHeads(storage, topic)) {
      if (head.segments === 0 && head.highWatermark === 0) continue;
      work.push({ topic, partition: head.partition, lastCompactedAt: head.lastCompactedAt ?? 0 });
    }
  }
  work.sort((a, b) => a.lastCompactedAt - b.lastCompactedAt);
  const reports: PartitionReport[] = [];
  for (const { topic, partition } of work) {
    if (options.budgetMs !== undefined && Date.now() - startedAtMs > options.budgetMs) break;
    reports.push(await compactPartition(storage, topic, partition, { ...options, nowMs }));
  }
  const live = new Map(topics.map((t) => [t.name, t.topicId]));
  await deleteDeadIncarnations(storage, (name) => live.get(name), nowMs, settings.orphanGraceMs);
  return reports;
}
