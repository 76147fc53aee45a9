import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { COMPACTION } from '../config/defaults.ts';
import { listTopics, getTopic, readHeads } from '../log/topics.ts';
import { SluiceError } from '../errors.ts';
import { log } from '../observability/logger.ts';
import type { Storage } from '../storage/clients.ts';
import { HEAD_SK, partitionPk, partitionPrefix, type IndexEntryItem, type TopicItem } from '../storage/schema.ts';
import { acquireLease } from './lease.ts';
import { compactKeys } from './key-compaction.ts';
import { expiryDaysFor, needsRetag, safeExpiryDays, writtenAtMs } from './lifecycle.ts';
import { deleteDeadIncarnations, sweepOrphans } from './orphans.ts';
import { collectBlobs } from '../blobs/collect.ts';
import { indexPages, readIndex, readPendingDeletes } from './partition-items.ts';
import { applyRetention, markCut, readRetentionHead, releaseDue, type ReleaseMark } from './removal.ts';
import { MAX_SEGMENTS_PER_MERGE, planTailMerges } from './plan.ts';
import { claimDiscovery, dueSk, duePartitions, readCompactionState, readTaggedRungs, recordTaggedRung, removeDue, saveCompactionState, scheduledPartitions, scheduleNew, type CompactionStateItem } from './schedule.ts';
import { deleteDueObjects, mergeRun, retagEntry, type CompactionHooks } from './steps.ts';

export type CompactionSettings = { -readonly [K in keyof typeof COMPACTION]: number };

export interface CompactionOptions {
  /**
   * The clock's reading when the call starts (tests move it ahead); it keeps running from
   * there, so every decision uses the time at which it is made.
   */
  nowMs?: number;
  /** Injectable clock; overrides `nowMs`. */
  clock?: () => number;
  settings?: Partial<CompactionSettings>;
  hooks?: CompactionHooks;
  /** The visit stops its work at this clock reading (the pass's budget); default: visitBudgetMs from its start. */
  deadlineMs?: number;
}

/** What one run did to one partition. */
export interface PartitionReport {
  topic: string;
  partition: number;
  /** False when another run held the lease. */
  ran: boolean;
  /** Entries retention cut out of the log (the log start rose past them). */
  removedSegments: number;
  /** Their stored bytes. */
  removedBytes: number;
  /** Cut entries deleted with their objects once their grace period was over. */
  releasedSegments: number;
  mergedRuns: number;
  /** Entries those runs merged. */
  mergedSegments: number;
  deletedObjects: number;
  deletedOrphans: number;
  /** Entries rewritten by key compaction (cleanup.policy=compact). */
  compactedSegments: number;
  /** Objects whose lifecycle tag was renewed so it cannot expire them while indexed. */
  retaggedObjects: number;
  logStartOffset: number;
  /** When the partition is next due (the due-time index). */
  nextDueAtMs?: number;
  /** True when the visit ran out of time and left work for the next one. */
  unfinished?: boolean;
  /** Set when the visit failed; the pass went on without it. */
  error?: string;
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

function clockOf(options: CompactionOptions): () => number {
  if (options.clock !== undefined) return options.clock;
  if (options.nowMs === undefined) return Date.now;
  const offset = options.nowMs - Date.now();
  return () => Date.now() + offset;
}

/**
 * One visit to one partition, under its lease: delete objects whose grace period is over,
 * release segments retention cut a grace period ago, apply retention (cutting the oldest
 * entries out of the log; reading only what it cuts plus a page), clean keys, merge the unmerged
 * tail, take one bounded step of the orphan sweep (which also renews lifecycle tags), and
 * book the next visit in the due-time index. Every step is conditional on the state it read
 * and stops at the deadline; the next visit resumes from the cursors saved.
 */
export async function compactPartition(storage: Storage, topic: TopicItem, partition: number, options: CompactionOptions = {}): Promise<PartitionReport> {
  const clock = clockOf(options);
  const settings = compactionSettings(options.settings);
  const hooks = options.hooks ?? {};
  const deadlineMs = options.deadlineMs ?? clock() + settings.visitBudgetMs;
  const pk = partitionPk(topic.topicId, partition);
  const report: PartitionReport = { topic: topic.name, partition, ran: false, removedSegments: 0, removedBytes: 0, releasedSegments: 0, mergedRuns: 0, mergedSegments: 0, deletedObjects: 0, deletedOrphans: 0, compactedSegments: 0, retaggedObjects: 0, logStartOffset: 0 };
  const lease = await acquireLease(storage, pk, clock(), settings.leaseMs);
  if (lease === undefined) return report;
  const graceEnd = () => clock() + settings.deleteGraceMs;
  const outOfTime = () => clock() >= deadlineMs;
  try {
    report.ran = true;
    let state = await readCompactionState(storage, pk, clock());
    const initialState = canonical(state);
    const pending = await readPendingDeletes(storage, pk);
    const startedAtMs = clock();
    report.deletedObjects = await deleteDueObjects(storage, pending, clock, hooks);

    // Release cut entries whose grace is over: their objects, then the entries (removal.ts).
    const release = await releaseDue(storage, pk, state.releases ?? [], state.releasedBelowOffset ?? 0, { clock, outOfTime, hooks });
    report.releasedSegments = release.released;
    state = withReleases(state, release.marks, release.releasedBelowOffset);

    // Retention: cut the oldest entries out of the log, reading only those plus a page.
    const retention = await applyRetention(storage, pk, topic.configs, await readRetentionHead(storage, pk), {
      clock,
      pageSize: settings.retentionPageSize,
      outOfTime,
      ...(hooks.afterRetentionCommit === undefined ? {} : { afterCut: hooks.afterRetentionCommit }),
    });
    report.removedSegments = retention.removed;
    report.removedBytes = retention.removedBytes;
    report.logStartOffset = retention.logStartOffset;
    const logStartOffset = retention.logStartOffset;
    const newestLastOffset = retention.head.nextOffset - 1;
    const retentionDueAtMs = retention.nextRemovalAtMs;
    // The grace counts from now, after the cut committed (or from a later visit, after a crash).
    state = withReleases(state, markCut(state.releases ?? [], state.releasedBelowOffset ?? 0, retention.head.removedBelowOffset, graceEnd()), state.releasedBelowOffset ?? 0);

    if (topic.configs['cleanup.policy'] !== 'delete' && !outOfTime()) {
      // Key compaction decides from every key in the log, so it reads the whole log.
      report.compactedSegments = await compactKeys(storage, topic, partition, await readIndex(storage, pk, logStartOffset), clock(), graceEnd());
    }

    // Claim-check blobs whose last referencing record left the log, and orphan blobs (lib/blobs).
    const blobs = outOfTime() || topic.hasBlobs !== true ? undefined : await collectBlobs(storage, topic, partition, logStartOffset, { clock, deleteGraceMs: settings.deleteGraceMs, orphanGraceMs: settings.orphanGraceMs, deadlineMs });

    // Merging: only the tail that earlier visits have not settled.
    if (!outOfTime()) {
      const tail: IndexEntryItem[] = [];
      for await (const page of indexPages(storage, pk, { fromOffset: Math.max(state.mergeFromOffset, logStartOffset) })) tail.push(...page);
      const plan = planTailMerges(tail, { ...settings, maxSegmentsPerMerge: MAX_SEGMENTS_PER_MERGE });
      let resumeOffset = plan.resumeOffset;
      for (const run of plan.runs) {
        if (outOfTime()) {
          resumeOffset = Math.min(resumeOffset, (run[0] as IndexEntryItem).baseOffset);
          break;
        }
        if (await mergeRun(storage, topic, partition, pk, run, clock(), graceEnd, hooks)) {
          report.mergedRuns++;
          report.mergedSegments += run.length;
        }
      }
      state = { ...state, mergeFromOffset: Math.max(state.mergeFromOffset, resumeOffset) };
    }

    // After retention.ms grew: every object whose tag is now too short, across the whole log.
    const desiredDays = expiryDaysFor(topic.configs);
    if ((state.taggedDays === undefined || needsRetag(state.taggedDays, desiredDays)) && !outOfTime()) {
      for await (const page of indexPages(storage, pk, { fromOffset: logStartOffset })) {
        for (const entry of page) {
          if (!needsRetag(entry.expireDays ?? 0, desiredDays)) continue;
          await retagEntry(storage, entry, desiredDays, hooks);
          report.retaggedObjects++;
        }
      }
      state = { ...state, taggedDays: desiredDays };
    }

    // One bounded step of the orphan sweep, when one is due or in progress.
    const nowMs = clock();
    if (!outOfTime() && (state.sweepAfterKey !== undefined || state.nextSweepAtMs <= nowMs)) {
      const startedAtMs = state.sweepAfterKey === undefined ? nowMs : (state.sweepStartedAtMs ?? nowMs);
      const horizonMs = startedAtMs + settings.orphanSweepIntervalMs;
      const releases = releaseClock(topic, newestLastOffset);
      const retag: Array<{ entry: IndexEntryItem; days: number }> = [];
      const step = await sweepOrphans(
        storage,
        partitionPrefix(topic.name, partition, topic.topicId),
        async (seen) => {
          for await (const page of indexPages(storage, pk, { consistent: false })) {
            for (const entry of page) {
              seen(entry.objectKey);
              // A cut entry is still a reference, but its object leaves with it: no new tag.
              if (entry.lastOffset < logStartOffset) continue;
              const days = safeExpiryDays(entry.expireDays ?? 0, writtenAtMs(entry.objectKey, entry.createdAtMs - 15 * 60_000), releases(entry), horizonMs, settings.retagMarginMs);
              if (days !== undefined) retag.push({ entry, days });
            }
          }
          for (const item of await readPendingDeletes(storage, pk)) seen(item.objectKey);
        },
        { afterKey: state.sweepAfterKey, maxPages: settings.orphanPagesPerVisit, deadlineMs, clock, graceMs: settings.orphanGraceMs, beforeDeletes: hooks.beforeOrphanDeletes },
      );
      for (const { entry, days } of retag) await retagEntry(storage, entry, days, hooks);
      report.retaggedObjects += retag.length;
      report.deletedOrphans = step.deleted;
      const { sweepAfterKey: _done, ...rest } = state;
      state = step.afterKey === undefined ? { ...rest, sweepStartedAtMs: startedAtMs, nextSweepAtMs: startedAtMs + settings.orphanSweepIntervalMs } : { ...state, sweepAfterKey: step.afterKey, sweepStartedAtMs: startedAtMs };
    }

    report.unfinished = outOfTime();
    // Queued deletions this visit did not reach, and any it queued (due a grace period from now at the latest).
    const queuedNow = report.mergedRuns + report.compactedSegments > 0 ? [graceEnd()] : [];
    const waiting = [...pending.filter((p) => p.deleteAfterMs > startedAtMs).map((p) => p.deleteAfterMs), ...(state.releases ?? []).map((m) => m.afterMs), ...queuedNow, ...(blobs === undefined ? [] : [blobs.nextDueAtMs])];
    // Retention is checked at most every retentionCheckIntervalMs, as Kafka's log.retention.check.interval.ms.
    const retentionCheckMs = Math.max(retentionDueAtMs, clock() + settings.retentionCheckIntervalMs);
    const dueAtMs = report.unfinished || state.sweepAfterKey !== undefined ? clock() : Math.min(state.nextSweepAtMs, retentionCheckMs, ...waiting);
    report.nextDueAtMs = dueAtMs;
    const unchanged = canonical(state) === initialState && state.dueSk === dueSk(dueAtMs, topic.topicId, partition);
    if (!unchanged) await saveCompactionState(storage, state, { topic: topic.name, topicId: topic.topicId, partition }, dueAtMs, hooks.afterDueWritten);
    await stampHead(storage, pk, clock());
  } finally {
    await lease.release();
  }
  return report;
}

/** JSON with object keys sorted, so a state read back from DynamoDB compares equal to the one written. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));
}

/** The state with these release marks, its fields absent while empty (an unchanged state is not written again). */
function withReleases(state: CompactionStateItem, releases: ReleaseMark[], releasedBelowOffset: number): CompactionStateItem {
  const { releases: _marks, releasedBelowOffset: _below, ...rest } = state;
  return { ...rest, ...(releases.length > 0 ? { releases } : {}), ...(releasedBelowOffset > 0 ? { releasedBelowOffset } : {}) };
}

/**
 * When retention will have freed each entry, read in offset order from the oldest: retention
 * removes a prefix, so an entry goes once every entry up to it is past retention.ms. The
 * newest entry is never freed, nor any entry of a topic that keeps records forever.
 */
function releaseClock(topic: TopicItem, newestLastOffset: number): (entry: IndexEntryItem) => number {
  const retentionMs = topic.configs['retention.ms'];
  const deletes = topic.configs['cleanup.policy'] === 'delete' || topic.configs['cleanup.policy'] === 'compact,delete';
  let newestTimestamp = Number.NEGATIVE_INFINITY;
  return (entry) => {
    newestTimestamp = Math.max(newestTimestamp, entry.maxTimestamp);
    if (!deletes || retentionMs < 0 || entry.lastOffset >= newestLastOffset) return Number.POSITIVE_INFINITY;
    return newestTimestamp + retentionMs;
  };
}

async function stampHead(storage: Storage, pk: string, nowMs: number): Promise<void> {
  await storage.ddb
    .send(
      new UpdateCommand({
        TableName: storage.env.tableName,
        Key: { pk, sk: HEAD_SK },
        UpdateExpression: 'SET lastCompactedAtMs = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':now': nowMs },
      }),
    )
    .catch((error: { name?: string }) => {
      // A partition never written to has no head to stamp.
      if (error.name !== 'ConditionalCheckFailedException') throw error;
    });
}

/** Compacts one partition of a topic by name (the asynchronous trigger's entry). */
export async function compactTopicPartition(storage: Storage, topicName: string, partition: number, options: CompactionOptions = {}): Promise<PartitionReport> {
  return compactPartition(storage, await getTopic(storage, topicName), partition, options);
}

/**
 * The scheduled pass: the partitions whose due time has come, most overdue first, until the
 * time budget is spent (the rest stay due and start the next pass). A visit that fails is
 * logged and retried later, behind the others; the pass goes on. Once per discovery
 * interval it also schedules partitions with data that have never been visited, and
 * collects dead incarnations and deleted topics.
 */
export async function compactAll(storage: Storage, options: CompactionOptions & { budgetMs?: number } = {}): Promise<PartitionReport[]> {
  const clock = clockOf(options);
  const startedAtMs = clock();
  const settings = compactionSettings(options.settings);
  const passDeadlineMs = options.budgetMs === undefined ? Number.POSITIVE_INFINITY : startedAtMs + options.budgetMs;
  if (await claimDiscovery(storage, clock(), settings.discoveryIntervalMs)) await discover(storage, clock, settings);
  const reports: PartitionReport[] = [];
  const topics = new Map<string, TopicItem | undefined>();
  pass: for await (const page of duePartitions(storage, clock())) {
    for (const due of page) {
      if (clock() > passDeadlineMs) break pass;
      if (!topics.has(due.topic)) topics.set(due.topic, await getTopic(storage, due.topic).catch(absentTopic));
      const topic = topics.get(due.topic);
      if (topic === undefined || topic.topicId !== due.topicId || due.partition >= topic.partitions) {
        await removeDue(storage, due.sk);
        continue;
      }
      const deadlineMs = Math.min(passDeadlineMs, clock() + settings.visitBudgetMs);
      const report = await visitSafely(storage, topic, due.partition, { ...options, clock, deadlineMs });
      reports.push(report);
      // A duplicate left by a crash; the visit itself replaced the item its state named.
      if (report.ran && report.nextDueAtMs !== undefined && dueSk(report.nextDueAtMs, topic.topicId, due.partition) !== due.sk) await removeDue(storage, due.sk);
    }
  }
  return reports;
}

function absentTopic(error: unknown): undefined {
  if (error instanceof SluiceError && error.code === 'UNKNOWN_TOPIC_OR_PARTITION') return undefined;
  throw error;
}

/** One visit that never throws: a failure is logged and the partition retried later. */
async function visitSafely(storage: Storage, topic: TopicItem, partition: number, options: CompactionOptions & { clock: () => number }): Promise<PartitionReport> {
  const settings = compactionSettings(options.settings);
  try {
    return await compactPartition(storage, topic, partition, options);
  } catch (error) {
    log().error('compaction of a partition failed; the pass goes on', { topic: topic.name, partition, error: String(error) });
    const retryAtMs = options.clock() + settings.retryAfterFailureMs;
    const pk = partitionPk(topic.topicId, partition);
    await saveCompactionState(storage, await readCompactionState(storage, pk, options.clock()), { topic: topic.name, topicId: topic.topicId, partition }, retryAtMs).catch(() => undefined);
    return { topic: topic.name, partition, ran: true, removedSegments: 0, removedBytes: 0, releasedSegments: 0, mergedRuns: 0, mergedSegments: 0, deletedObjects: 0, deletedOrphans: 0, compactedSegments: 0, retaggedObjects: 0, logStartOffset: 0, nextDueAtMs: retryAtMs, error: String(error) };
  }
}

/**
 * Schedules now every partition with data that is not in the due-time index, and every partition
 * of a topic whose lifecycle rung grew (retention.ms went up: older objects need longer tags
 * before their old ones fire, at least a day away); collects dead incarnations.
 */
async function discover(storage: Storage, clock: () => number, settings: CompactionSettings): Promise<void> {
  const topics = await listTopics(storage);
  const rungs = await readTaggedRungs(storage);
  for (const topic of topics) {
    const desiredDays = expiryDaysFor(topic.configs);
    const recorded = rungs.get(topic.topicId);
    const grew = recorded !== undefined && needsRetag(recorded, desiredDays);
    const withData = (await readHeads(storage, topic)).filter((head) => head.segments > 0 || head.highWatermark > 0);
    const scheduled = await scheduledPartitions(storage, withData.map((head) => partitionPk(topic.topicId, head.partition)));
    for (const head of withData) {
      if (!grew && scheduled.has(partitionPk(topic.topicId, head.partition))) continue;
      await scheduleNew(storage, { topic: topic.name, topicId: topic.topicId, partition: head.partition }, clock());
    }
    if (recorded !== desiredDays) await recordTaggedRung(storage, topic.topicId, desiredDays);
  }
  const live = new Map(topics.map((t) => [t.name, t.topicId]));
  await deleteDeadIncarnations(storage, (name) => live.get(name), clock(), settings.orphanGraceMs);
}

export type { CompactionStateItem };
