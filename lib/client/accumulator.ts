/**
 * The producer's record accumulator, after Kafka's RecordAccumulator: a queue of batches
 * per topic-partition, a bounded buffer, and the rule for when a partition is ready to send.
 *
 *   append ──► [open batch] ─ full ─► closed ─┐
 *                   │                         ├─► drain: one request per topic, every ready
 *                   └─ lingerMs elapsed ──────┘    partition's batches, ≤ maxRequestBytes
 *
 * A partition is ready when its first batch is closed (full), has lingered `lingerMs`, or
 * when the producer is flushing, closing, or out of buffer (Kafka's "exhausted": waiting
 * senders must not wait for linger). Muted partitions (a request in flight) are skipped,
 * which is what keeps a partition's records in order.
 *
 * Keyless records use Kafka's sticky partitioner (KIP-480): they fill one partition's
 * batch, and when that batch is complete the next keyless record picks another partition.
 */
import type { BatchRecord } from '../codec/record-batch.ts';
import { partitionForKey } from '../log/partitioner.ts';
import { BATCH_HEADER_BYTES, FRAME_HEADER_BYTES, ProducerBatch, type SendTracker } from './producer-batch.ts';

/** Batch size limits for one topic. */
export interface BatchLimits {
  /** A batch is full (ready) once it reaches this many bytes. */
  targetBytes: number;
  /** No batch may exceed this (the topic's max.message.bytes); a lone record up to it gets its own batch. */
  maxBytes: number;
}

export type AppendOutcome =
  | { kind: 'appended'; batch: ProducerBatch; newBatch: boolean }
  /** The buffer is full; wait for `release` and try again. */
  | { kind: 'no-memory' }
  /** The record alone is larger than `maxBytes`. */
  | { kind: 'too-large'; sizeBytes: number };

/** What one request carries: one topic's batches, grouped by partition, in queue order. */
export interface DrainedRequest {
  topic: string;
  batches: ProducerBatch[];
  sizeBytes: number;
}

export interface DrainOptions {
  nowMs: number;
  /** Send every batch now: flushing, closing or out of buffer. */
  force: boolean;
  isMuted: (topic: string, partition: number) => boolean;
  maxRequestBytes: number;
  /** Partitions per request; the server commits up to 32 partitions of an idempotent producer atomically. */
  maxPartitions: number;
}

interface TopicQueues {
  /** Per partition, batches in append order; only the last can be open. Empty queues are deleted. */
  readonly queues: Map<number, ProducerBatch[]>;
  stickyPartition: number;
  /** The batch the last keyless record joined; when it closes, keyless records move on. */
  stickyBatch: ProducerBatch | undefined;
}

export class Accumulator {
  /** Bytes reserved by batches buffered or in flight. Never exceeds bufferMemoryBytes, except by one batch when the buffer was empty. */
  bufferedBytes = 0;
  private readonly topics = new Map<string, TopicQueues>();
  private drainStart = 0;

  /**
   * @param onBatchFull called when an append closes a batch (full, or done with by the sticky
   *   partitioner): a partition just became ready without waiting for linger.
   */
  constructor(
    private readonly options: { lingerMs: number; bufferMemoryBytes: number },
    private readonly onBatchFull: () => void = () => {},
    private readonly random: () => number = Math.random,
  ) {}

  private close(batch: ProducerBatch): void {
    batch.closed = true;
    this.onBatchFull();
  }

  private topicQueues(topic: string): TopicQueues {
    let t = this.topics.get(topic);
    if (t === undefined) {
      t = { queues: new Map(), stickyPartition: -1, stickyBatch: undefined };
      this.topics.set(topic, t);
    }
    return t;
  }

  /** Appends a record: to its explicit partition (≥ 0), else by murmur2 of its key, else to the sticky partition. */
  append(topic: string, partition: number, record: BatchRecord, partitions: number, limits: BatchLimits, tracker: SendTracker, index: number, nowMs: number): AppendOutcome {
    const target = partition >= 0 ? partition : record.key !== null ? partitionForKey(record.key, partitions) : this.stickyPartition(topic, record, partitions, limits);
    const outcome = this.appendTo(topic, target, record, limits, tracker, index, nowMs);
    if (outcome.kind === 'appended' && partition < 0 && record.key === null) this.topicQueues(topic).stickyBatch = outcome.batch;
    return outcome;
  }

  private stickyPartition(topic: string, record: BatchRecord, partitions: number, limits: BatchLimits): number {
    const t = this.topicQueues(topic);
    const current = t.stickyPartition;
    const last = current >= 0 ? t.queues.get(current)?.at(-1) : undefined;
    const complete = t.stickyBatch !== undefined && (t.stickyBatch.closed || (t.stickyBatch === last && !fits(last, record, limits)));
    if (current < 0 || current >= partitions || complete) {
      if (complete && last !== undefined && t.stickyBatch === last) this.close(last);
      let next = Math.floor(this.random() * partitions);
      if (partitions > 1 && next === current) next = (next + 1 + Math.floor(this.random() * (partitions - 1))) % partitions;
      t.stickyPartition = next;
      t.stickyBatch = undefined;
    }
    return t.stickyPartition;
  }

  private appendTo(topic: string, partition: number, record: BatchRecord, limits: BatchLimits, tracker: SendTracker, index: number, nowMs: number): AppendOutcome {
    const t = this.topicQueues(topic);
    let queue = t.queues.get(partition);
    const last = queue?.at(-1);
    if (last !== undefined && !last.closed) {
      const size = last.sizeOf(record);
      if (last.sizeBytes + size <= limits.targetBytes) {
        if (!this.reserve(size)) return { kind: 'no-memory' };
        last.append(record, size, tracker, index);
        if (last.sizeBytes >= limits.targetBytes) this.close(last);
        return { kind: 'appended', batch: last, newBatch: false };
      }
    }
    const batch = new ProducerBatch(topic, partition, nowMs);
    const size = batch.sizeOf(record);
    if (BATCH_HEADER_BYTES + size > limits.maxBytes) return { kind: 'too-large', sizeBytes: BATCH_HEADER_BYTES + size };
    if (!this.reserve(BATCH_HEADER_BYTES + size)) return { kind: 'no-memory' };
    if (last !== undefined && !last.closed) this.close(last);
    if (queue === undefined) {
      queue = [];
      t.queues.set(partition, queue);
    }
    batch.append(record, size, tracker, index);
    if (batch.sizeBytes >= limits.targetBytes) this.close(batch);
    queue.push(batch);
    return { kind: 'appended', batch, newBatch: true };
  }

  private reserve(bytes: number): boolean {
    if (this.bufferedBytes > 0 && this.bufferedBytes + bytes > this.options.bufferMemoryBytes) return false;
    this.bufferedBytes += bytes;
    return true;
  }

  /** Returns a completed batch's bytes to the buffer. */
  release(batch: ProducerBatch): void {
    this.bufferedBytes -= batch.reservedBytes;
  }

  private isReady(batch: ProducerBatch, options: DrainOptions): boolean {
    return batch.closed || options.force || options.nowMs - batch.createdAtMs >= this.options.lingerMs;
  }

  /**
   * Takes the next request's worth of ready batches, or undefined when nothing is ready.
   * Topics take turns, so a busy topic cannot starve another. IMPORTANT: removes the batches
   * it returns from the queues and closes them; the caller must send, then release, them.
   */
  drain(options: DrainOptions): DrainedRequest | undefined {
    const names = [...this.topics.keys()];
    for (let i = 0; i < names.length; i++) {
      const name = names[(this.drainStart + i) % names.length] as string;
      const request = this.drainTopic(name, this.topics.get(name) as TopicQueues, options);
      if (request !== undefined) {
        this.drainStart = (this.drainStart + i + 1) % Math.max(1, names.length);
        return request;
      }
    }
    return undefined;
  }

  private drainTopic(topic: string, t: TopicQueues, options: DrainOptions): DrainedRequest | undefined {
    const batches: ProducerBatch[] = [];
    let sizeBytes = 0;
    let partitions = 0;
    for (const [partition, queue] of t.queues) {
      if (partitions >= options.maxPartitions) break;
      if (options.isMuted(topic, partition) || !this.isReady(queue[0] as ProducerBatch, options)) continue;
      let taken = 0;
      while (taken < queue.length) {
        const batch = queue[taken] as ProducerBatch;
        const frameBytes = FRAME_HEADER_BYTES + batch.sizeBytes;
        if (!this.isReady(batch, options) || (batches.length > 0 && sizeBytes + frameBytes > options.maxRequestBytes)) break;
        batch.closed = true;
        batches.push(batch);
        sizeBytes += frameBytes;
        taken++;
      }
      if (taken > 0) {
        partitions++;
        queue.splice(0, taken);
        if (queue.length === 0) t.queues.delete(partition);
      }
    }
    return batches.length === 0 ? undefined : { topic, batches, sizeBytes };
  }

  /** When the earliest unmuted open batch will have lingered long enough; undefined if none waits. */
  nextLingerDeadlineMs(isMuted: (topic: string, partition: number) => boolean): number | undefined {
    let deadline: number | undefined;
    for (const [topic, t] of this.topics) {
      for (const [partition, queue] of t.queues) {
        if (isMuted(topic, partition)) continue;
        const due = (queue[0] as ProducerBatch).createdAtMs + this.options.lingerMs;
        if (deadline === undefined || due < deadline) deadline = due;
      }
    }
    return deadline;
  }

  /** Every batch still waiting to be sent. */
  queuedBatches(): ProducerBatch[] {
    const out: ProducerBatch[] = [];
    for (const t of this.topics.values()) for (const queue of t.queues.values()) out.push(...queue);
    return out;
  }
}

function fits(batch: ProducerBatch, record: BatchRecord, limits: BatchLimits): boolean {
  return batch.sizeBytes + batch.sizeOf(record) <= limits.targetBytes;
}
