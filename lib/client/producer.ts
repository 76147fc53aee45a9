/**
 * The producer: `send` places records in per-partition batches (accumulator.ts) and a
 * sender turns ready batches into binary requests — one per topic carrying every ready
 * partition's batches as `application/vnd.sluice.batches` frames.
 *
 * Ordering: a partition has at most one request in flight (Kafka needs
 * max.in.flight.requests.per.connection=1 for the same guarantee without idempotence), so a
 * retried request can never be overtaken by a later batch of its partition. Up to
 * `maxInFlightRequests` requests for different partitions run at once. After an idempotent
 * request fails, no request starts until the in-flight ones are done and the epoch is bumped
 * (producer-identity.ts).
 *
 * A failed send (Kafka's rule for non-transactional sends): a send's records travel in
 * batches per partition, and each batch succeeds or fails on its own. `send` settles once
 * every batch of it has; if any failed it rejects with a SendError, whose `landed` lists the
 * records that were appended anyway (partition and offset), so a caller retries only the rest.
 *
 * Memory: records are counted from when they enter the buffer until their request
 * completes. When `bufferMemoryBytes` is reached, sends wait in call order (FIFO) holding no
 * copy of their messages (they are converted as they enter), and everything buffered is sent
 * at once instead of lingering. Once a batch is encoded its records are dropped, so the
 * buffer holds one copy of the data. A send waits for space at most `maxBlockMs` from its
 * call (Kafka's max.block.ms); then what it has not buffered fails with REQUEST_TIMED_OUT.
 *
 * Throttling: a 429 (storage throttling, or lag-driven backpressure) is retried after its
 * Retry-After; while requests wait, the buffer fills and sends block, which is how
 * backpressure reaches the caller. `stats()` reports the time spent throttled and blocked.
 */
import type { BatchRecord } from '../codec/record-batch.ts';
import { LIMITS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { checkConnection } from './connect.ts';
import { ClaimCheckUploader } from './claim-check.ts';
import { Accumulator, type BatchLimits, type DrainedRequest } from './accumulator.ts';
import type { Transport } from './http.ts';
import { checkMessages, encodedSizeBound, toRecord } from './message.ts';
import { checkOptionKeys, SEND_BATCH_KEYS, SEND_HINTS, SEND_KEYS, TOPIC_MESSAGES_KEYS } from './option-keys.ts';
import { MetadataCache, type TopicMetadata } from './metadata.ts';
import type { ResolvedProducerOptions } from './options.ts';
import { sendProduceRequest } from './produce-request.ts';
import { ProducerIdentity } from './producer-identity.ts';
import { Partitioners, type PartitionerFunction, type PartitionMetadata } from './partitioners.ts';
import { BATCH_HEADER_BYTES, FRAME_HEADER_BYTES, type ProducerBatch, SendTracker } from './producer-batch.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, settleWithin, type CloseOptions } from './close.ts';
import type { Acks, Message, ProducerRecord, RecordMetadata } from './types.ts';

/** A send not yet fully in the accumulator. */
interface PendingSend {
  readonly topic: string;
  readonly messages: readonly Message[];
  /** When `send` was called: the timestamp of messages without one. */
  readonly nowMs: number;
  readonly tracker: SendTracker;
  /** Next message to append. */
  next: number;
  /** Message `next`, converted, while it waits for buffer space, and the partition chosen for it (-1: the default's choice). */
  waiting: BatchRecord | undefined;
  waitingPartition: number;
  /** The topic's metadata this send is placed with. */
  metadata: TopicMetadata | undefined;
  /** True once the metadata was described again for an explicit partition past the known count. */
  refreshed: boolean;
  readonly appended: Promise<void>;
  markAppended: () => void;
}

/** What `producer.stats()` reports: the buffer, and time lost to throttling and to a full buffer. */
export interface ProducerStats {
  /** Bytes of records buffered or in flight. */
  bufferedBytes: number;
  bufferMemoryBytes: number;
  inFlightRequests: number;
  /** Sends waiting for buffer space (or for topic metadata). */
  waitingSends: number;
  /** Produce answers of 429 THROTTLING_QUOTA_EXCEEDED (storage throttling or lag-driven backpressure). */
  throttledRequests: number;
  /** Time requests waited before retrying after a 429 (its Retry-After, or backoff if longer), summed. */
  throttleTimeMs: number;
  /** Time sends spent blocked on a full buffer (bufferMemoryBytes). */
  blockedTimeMs: number;
  /** Sends (or their remainders) failed after waiting maxBlockMs for buffer space. */
  blockTimeouts: number;
  /** Times UNKNOWN_PRODUCER_ID (state expired while idle) made the producer renew its identity and resend. */
  identityRenewals: number;
}

export class Producer {
  private readonly accumulator: Accumulator;
  private readonly metadata: MetadataCache;
  private readonly queue: PendingSend[] = [];
  private readonly muted = new Set<string>();
  private readonly inFlightBatches = new Set<ProducerBatch>();
  private readonly limits = new Map<string, BatchLimits>();
  private blocked: 'metadata' | 'memory' | undefined;
  private pumping = false;
  private inFlight = 0;
  private flushing = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private drainScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDeadlineMs = Number.POSITIVE_INFINITY;
  private readonly isMuted = (topic: string, partition: number) => this.muted.has(`${partition}\u0000${topic}`);
  private readonly identity: ProducerIdentity | undefined;
  /** Uploads values above the claim-check threshold before they enter the buffer (claim-check.ts). */
  private readonly claimChecks: ClaimCheckUploader | undefined;
  /** Aborted when `disconnect` runs out of time: requests in flight end, the rest fail unsent. */
  private readonly closing = new AbortController();
  private readonly partitioner: PartitionerFunction | undefined;
  private readonly partitionLists = new Map<number, PartitionMetadata[]>();
  private blockTimer: NodeJS.Timeout | undefined;
  private blockedSinceMs: number | undefined;
  private readonly counters = { throttledRequests: 0, throttleTimeMs: 0, blockedTimeMs: 0, blockTimeouts: 0, identityRenewals: 0 };

  constructor(
    private readonly transport: Transport,
    describe: ConstructorParameters<typeof MetadataCache>[0],
    readonly options: ResolvedProducerOptions,
  ) {
    this.accumulator = new Accumulator(options, () => this.drainSoon());
    this.metadata = new MetadataCache(describe, options.metadataMaxAgeMs);
    this.identity = options.idempotent ? new ProducerIdentity(transport, options) : undefined;
    this.claimChecks = options.claimCheck === false ? undefined : new ClaimCheckUploader(transport, options, options.claimCheck);
    const create = options.createPartitioner;
    this.partitioner = create === undefined || create === Partitioners.DefaultPartitioner ? undefined : create();
  }

  /** The buffer, and time lost to throttling and to a full buffer so far. */
  stats(): ProducerStats {
    const blockedNowMs = this.blockedSinceMs === undefined ? 0 : Date.now() - this.blockedSinceMs;
    return {
      bufferedBytes: this.accumulator.bufferedBytes,
      bufferMemoryBytes: this.options.bufferMemoryBytes,
      inFlightRequests: this.inFlight,
      waitingSends: this.queue.length,
      ...this.counters,
      blockedTimeMs: this.counters.blockedTimeMs + blockedNowMs,
    };
  }

  /** Bytes of records buffered or in flight; at most bufferMemoryBytes (plus one batch when it was empty). */
  get bufferedBytes(): number {
    return this.accumulator.bufferedBytes;
  }

  /** Requests currently in flight. */
  get inFlightRequests(): number {
    return this.inFlight;
  }

  /** Checks that the API answers (GET /v1/health); rejects naming the cause if not. Sending needs no connect() first. */
  async connect(): Promise<void> {
    await checkConnection(this.transport, this.options);
  }

  /**
   * Sends messages to a topic. Resolves once every message is appended, with their
   * partitions and offsets in message order; rejects with the SluiceError of the first
   * failure. Waits for buffer space when the buffer is full. Messages are read as they
   * enter the buffer: do not change them until the promise settles.
   */
  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.claimChecks === undefined ? this.enqueue(record) : this.claimChecks.send(record, (converted) => this.enqueue(converted));
  }

  private enqueue(record: ProducerRecord): Promise<RecordMetadata[]> {
    try {
      checkOptionKeys('producer.send()', record, SEND_KEYS, SEND_HINTS);
      if (this.state !== 'open') throw new SluiceError('INVALID_REQUEST', 'The producer is disconnected');
      if (typeof record?.topic !== 'string' || record.topic === '') throw new SluiceError('INVALID_TOPIC_EXCEPTION', `topic must be a non-empty string, got ${JSON.stringify(record?.topic)}`);
      const acks: Acks = record.acks ?? -1;
      if (acks !== -1 && acks !== 0 && acks !== 1) throw new SluiceError('INVALID_REQUEST', `acks must be -1, 0 or 1, got ${JSON.stringify(acks)}`);
      const nowMs = Date.now();
      checkMessages(record.messages, nowMs);
      const messages = record.messages;
      const tracker = new SendTracker(record.topic, messages.length, acks);
      if (messages.length === 0) return tracker.promise;
      let markAppended!: () => void;
      const appended = new Promise<void>((resolve) => (markAppended = resolve));
      this.queue.push({ topic: record.topic, messages, nowMs, tracker, next: 0, waiting: undefined, waitingPartition: -1, metadata: undefined, refreshed: false, appended, markAppended });
      this.pump();
      return tracker.promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** kafkajs's sendBatch: several topics at once. */
  async sendBatch(batch: { topicMessages: ReadonlyArray<Omit<ProducerRecord, 'acks'>>; acks?: Acks }): Promise<RecordMetadata[]> {
    checkOptionKeys('producer.sendBatch()', batch, SEND_BATCH_KEYS, SEND_HINTS);
    for (const t of batch.topicMessages) checkOptionKeys('producer.sendBatch() topicMessages', t, TOPIC_MESSAGES_KEYS);
    const results = await Promise.all(batch.topicMessages.map((t) => this.send(batch.acks === undefined ? t : { ...t, acks: batch.acks })));
    return results.flat();
  }

  /** Sends everything sent before this call without waiting for linger; resolves when it is acknowledged or failed. */
  async flush(): Promise<void> {
    await this.claimChecks?.idle();
    await this.queue.at(-1)?.appended;
    const pending = [...this.accumulator.queuedBatches(), ...this.inFlightBatches];
    if (pending.length === 0) return;
    this.flushing++;
    try {
      this.drain();
      await Promise.all(pending.map((b) => b.done));
    } finally {
      this.flushing--;
    }
  }

  /**
   * Flushes, then refuses further sends. After `timeoutMs` it stops waiting: requests in
   * flight are abandoned and what was not acknowledged fails with REQUEST_TIMED_OUT (records
   * of an abandoned request may still have landed).
   */
  async disconnect(options: CloseOptions = {}): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    const timeoutMs = options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const flushed = this.flush();
    await settleWithin(flushed, timeoutMs);
    if (this.inFlight > 0 || this.accumulator.queuedBatches().length > 0 || this.queue.length > 0) {
      const reason = new SluiceError('REQUEST_TIMED_OUT', `disconnect() gave up after ${timeoutMs} ms; records not acknowledged by then are failed`);
      this.closing.abort(reason);
      for (const item of this.queue.splice(0)) {
        if (item.next === 0) item.tracker.fail(reason);
        else for (let i = item.next; i < item.messages.length; i++) item.tracker.recordFailed(i, reason);
        item.markAppended();
      }
      this.drain();
      await flushed;
    }
    this.state = 'closed';
    clearTimeout(this.timer);
    clearTimeout(this.blockTimer);
  }

  // ── appending ──────────────────────────────────────────────────────────────────────

  /** Moves queued sends into the accumulator, in order, until one must wait for metadata or memory. */
  private pump(): void {
    if (this.blocked !== undefined || this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const item = this.queue[0] as PendingSend;
        item.metadata ??= this.metadata.fresh(item.topic);
        if (item.metadata === undefined) return this.awaitMetadata(item);
        if (item.next === 0) {
          const rejection = this.admit(item, item.metadata);
          if (rejection === 'refresh') return this.awaitMetadata(item);
          if (rejection !== undefined) {
            this.queue.shift();
            item.tracker.fail(rejection);
            item.markAppended();
            continue;
          }
        }
        if (!this.appendFrom(item, item.metadata)) {
          this.blocked = 'memory';
          this.blockedSinceMs ??= Date.now();
          this.armBlockTimer();
          this.drainSoon();
          return;
        }
        this.queue.shift();
        item.tracker.buffered();
        item.markAppended();
      }
    } finally {
      this.pumping = false;
    }
  }

  private awaitMetadata(item: PendingSend): void {
    this.blocked = 'metadata';
    this.metadata.load(item.topic).then(
      (metadata) => {
        item.metadata = metadata;
      },
      (error: unknown) => {
        this.queue.shift();
        item.tracker.fail(error as Error);
        item.markAppended();
      },
    ).finally(() => {
      this.blocked = undefined;
      this.pump();
    });
  }

  /** Checks a send before any of it is appended, so it is never half accepted. */
  private admit(item: PendingSend, metadata: TopicMetadata): SluiceError | 'refresh' | undefined {
    const maxBytes = this.batchLimits(item.topic, metadata).maxBytes;
    for (const [i, message] of item.messages.entries()) {
      if (message.partition !== undefined && message.partition >= metadata.partitions) {
        if (item.refreshed) return new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `messages[${i}]: topic ${item.topic} has ${metadata.partitions} partitions, no partition ${message.partition}`);
        item.refreshed = true;
        item.metadata = undefined;
        this.metadata.invalidate(item.topic);
        return 'refresh';
      }
      const size = encodedSizeBound(message);
      if (size + BATCH_HEADER_BYTES > maxBytes) {
        return new SluiceError('MESSAGE_TOO_LARGE', `messages[${i}] is about ${size} bytes encoded; batches of topic ${item.topic} may be at most ${maxBytes} bytes (max.message.bytes)`);
      }
    }
    return undefined;
  }

  private batchLimits(topic: string, metadata: TopicMetadata): BatchLimits {
    const maxBytes = Math.min(metadata.maxMessageBytes, this.options.maxRequestBytes - FRAME_HEADER_BYTES);
    const limits = { targetBytes: Math.min(this.options.batchBytes, maxBytes), maxBytes };
    this.limits.set(topic, limits);
    return limits;
  }

  /** Appends the send's remaining messages; false when the buffer is full. */
  private appendFrom(item: PendingSend, metadata: TopicMetadata): boolean {
    const limits = this.limits.get(item.topic) ?? this.batchLimits(item.topic, metadata);
    const now = Date.now();
    for (; item.next < item.messages.length; item.next++) {
      const message = item.messages[item.next] as Message;
      let partition = item.waitingPartition;
      if (item.waiting === undefined) {
        const chosen = message.partition ?? this.partitionOf(item.topic, message, metadata.partitions, item.next);
        if (chosen instanceof SluiceError) {
          item.tracker.recordFailed(item.next, chosen);
          continue;
        }
        partition = chosen;
      }
      const record = item.waiting ?? toRecord(message, item.next, item.nowMs);
      const outcome = this.accumulator.append(item.topic, partition, record, metadata.partitions, limits, item.tracker, item.next, now);
      if (outcome.kind === 'no-memory') {
        item.waiting = record;
        item.waitingPartition = partition;
        return false;
      }
      item.waiting = undefined;
      item.waitingPartition = -1;
      if (outcome.kind === 'too-large') {
        item.tracker.recordFailed(item.next, new SluiceError('MESSAGE_TOO_LARGE', `messages[${item.next}] is ${outcome.sizeBytes} bytes as a batch; topic ${item.topic} takes at most ${limits.maxBytes}`));
        continue;
      }
      if (outcome.newBatch) this.wakeAt(now + this.options.lingerMs);
    }
    return true;
  }

  /** The createPartitioner's choice for a message without an explicit partition; -1 leaves it to murmur2 / sticky. */
  private partitionOf(topic: string, message: Message, partitions: number, index: number): number | SluiceError {
    if (this.partitioner === undefined) return -1;
    let list = this.partitionLists.get(partitions);
    if (list === undefined) {
      list = Array.from({ length: partitions }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0] }));
      this.partitionLists.set(partitions, list);
    }
    let chosen: number;
    try {
      chosen = this.partitioner({ topic, partitionMetadata: list, message });
    } catch (error) {
      return new SluiceError('INVALID_REQUEST', `createPartitioner's partitioner threw for messages[${index}] of topic ${topic}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (!Number.isInteger(chosen) || chosen < 0 || chosen >= partitions) {
      return new SluiceError('INVALID_REQUEST', `createPartitioner's partitioner returned ${JSON.stringify(chosen)} for messages[${index}] of topic ${topic}, which has partitions 0..${partitions - 1}`);
    }
    return chosen;
  }

  // ── a full buffer ──────────────────────────────────────────────────────────────────

  /** Wakes at the earliest maxBlockMs deadline of the waiting sends. */
  private armBlockTimer(): void {
    const head = this.queue[0];
    if (this.blockTimer !== undefined || head === undefined) return;
    // Sends queue in call order, so the head's deadline is the earliest.
    const deadlineMs = head.nowMs + this.options.maxBlockMs;
    this.blockTimer = setTimeout(() => {
      this.blockTimer = undefined;
      this.expireBlockedSends();
    }, Math.max(0, deadlineMs - Date.now()));
  }

  /** Fails what sends past their maxBlockMs have not buffered (Kafka's max.block.ms), then lets the rest try again. */
  private expireBlockedSends(): void {
    if (this.blocked !== 'memory') return;
    const now = Date.now();
    for (let i = 0; i < this.queue.length; ) {
      const item = this.queue[i] as PendingSend;
      if (item.nowMs + this.options.maxBlockMs > now) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.counters.blockTimeouts++;
      const error = new SluiceError(
        'REQUEST_TIMED_OUT',
        `send() to ${item.topic} waited ${this.options.maxBlockMs} ms (maxBlockMs) for buffer space: the producer's ${this.options.bufferMemoryBytes} bytes (bufferMemoryBytes) stayed full, ${this.accumulator.bufferedBytes} bytes buffered or in flight and ${this.counters.throttledRequests} requests throttled so far (producer.stats()); messages[${item.next}] and after were not sent`,
        { details: { bufferFull: true } },
      );
      if (item.next === 0) item.tracker.fail(error);
      else for (let m = item.next; m < item.messages.length; m++) item.tracker.recordFailed(m, error);
      item.markAppended();
    }
    this.unblockMemory();
  }

  /** Space may be free: queued sends try again (and block again if not). */
  private unblockMemory(): void {
    if (this.blocked !== 'memory') return;
    this.blocked = undefined;
    if (this.blockedSinceMs !== undefined) this.counters.blockedTimeMs += Date.now() - this.blockedSinceMs;
    this.blockedSinceMs = undefined;
    this.pump();
    if (this.blocked !== 'memory') {
      clearTimeout(this.blockTimer);
      this.blockTimer = undefined;
    } else this.armBlockTimer();
  }

  // ── sending ────────────────────────────────────────────────────────────────────────

  private drainSoon(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private wakeAt(deadlineMs: number): void {
    if (deadlineMs >= this.timerDeadlineMs) return;
    clearTimeout(this.timer);
    this.timerDeadlineMs = deadlineMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDeadlineMs = Number.POSITIVE_INFINITY;
      this.drain();
    }, Math.max(0, deadlineMs - Date.now()));
  }

  /** Starts requests for ready batches while in-flight slots are free. */
  private drain(): void {
    // Kafka's rule: the epoch changes only once nothing of the old one is in flight.
    if (this.identity?.bumpDue === true && this.inFlight > 0 && !this.closing.signal.aborted) return;
    const force = this.flushing > 0 || this.blocked === 'memory' || this.state !== 'open';
    while (this.inFlight < this.options.maxInFlightRequests) {
      const request = this.accumulator.drain({ nowMs: Date.now(), force, isMuted: this.isMuted, maxRequestBytes: this.options.maxRequestBytes, maxPartitions: LIMITS.maxPartitionsPerCommit });
      if (request === undefined) break;
      void this.sendRequest(request);
    }
    if (this.inFlight < this.options.maxInFlightRequests) {
      const deadline = this.accumulator.nextLingerDeadlineMs(this.isMuted);
      if (deadline !== undefined) this.wakeAt(deadline);
    }
  }

  private async sendRequest(request: DrainedRequest): Promise<void> {
    this.inFlight++;
    for (const batch of request.batches) {
      this.muted.add(`${batch.partition}\u0000${batch.topic}`);
      this.inFlightBatches.add(batch);
    }
    try {
      const maxBatchBytes = this.limits.get(request.topic)?.maxBytes ?? Number.POSITIVE_INFINITY;
      if (this.closing.signal.aborted) throw this.closing.signal.reason;
      await sendProduceRequest(this.transport, this.options, request, this.options.compression, maxBatchBytes, this.identity, this.closing.signal, {
        onRetry: (error, _attempt, delayMs) => {
          if (error.code !== 'THROTTLING_QUOTA_EXCEEDED') return;
          this.counters.throttledRequests++;
          this.counters.throttleTimeMs += delayMs;
        },
        onIdentityRenewed: () => this.counters.identityRenewals++,
      });
    } catch (error) {
      // Its outcome is unknown: the epoch is bumped before the next request (producer-identity.ts).
      this.identity?.failed();
      if (error instanceof SluiceError && error.code === 'UNKNOWN_TOPIC_OR_PARTITION') this.metadata.invalidate(request.topic);
      for (const batch of request.batches) batch.fail(error as Error);
    } finally {
      for (const batch of request.batches) {
        batch.complete();
        this.accumulator.release(batch);
        this.muted.delete(`${batch.partition}\u0000${batch.topic}`);
        this.inFlightBatches.delete(batch);
      }
      this.inFlight--;
      this.unblockMemory();
      this.drain();
    }
  }
}
