/**
 * The consumer, in assign mode (Kafka's `KafkaConsumer.assign`): the caller names the
 * partitions; each gets a fetch loop that long-polls, decodes and hands records to
 * `eachMessage` or `eachBatch` strictly in offset order, fetching the next batch while the
 * current one is handled.
 *
 * Positions: an explicit `seek`, else the assignment's `fromTimestamp` (ListOffsets) or
 * `fromBeginning`, else `autoOffsetReset`. When a fetch answers OFFSET_OUT_OF_RANGE,
 * `autoOffsetReset` moves to the bound the error carries, or (`none`) stops the consumer
 * with the error.
 *
 * Faults: fetches and offset lookups are retried without limit on retriable errors (a 5xx,
 * throttling, a dropped connection, a server restarting), backing off up to
 * `retryBackoffMaxMs`, each failed attempt reported to `on('retry')`: an outage of any length
 * is ridden out, as a Kafka consumer rides out a broker outage. Only a non-retriable error,
 * a handler's error or `stop()` ends the run.
 *
 * Nothing below assumes who assigns: a consumer group (group-consumer.ts) drives the same
 * cursors through `startManaged` / `addPartitions` / `removePartitions`, supplies starting
 * positions (committed offsets) and learns what was processed through the progress listener.
 */
import { SluiceError } from '../errors.ts';
import { sleep } from '../retry.ts';
import type { Admin } from './admin.ts';
import { fetchPartition, lookupOffset } from './fetcher.ts';
import { resolveClaimChecks } from './claim-check-resolve.ts';
import type { RetryListener, Transport } from './http.ts';
import type { ResolvedConsumerOptions, ResolvedRetryOptions } from './options.ts';
import { PausedPartitions, type TopicPartitions } from './paused-partitions.ts';
import { RecordNotDue } from './retry-hold.ts';
import { ASSIGN_KEYS, checkOptionKeys, RUN_HINTS, RUN_KEYS, SEEK_KEYS } from './option-keys.ts';
import { Semaphore } from './semaphore.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, settleWithin, type CloseOptions } from './close.ts';
import type { ConsumedBatch, EachBatchPayload, EachMessagePayload, OffsetSpec, TopicPartition } from './types.ts';

export type { TopicPartitions } from './paused-partitions.ts';

export interface TopicAssignment {
  topic: string;
  /** @default - every partition of the topic */
  partitions?: readonly number[];
  /** Start at the log start when no position was sought. */
  fromBeginning?: boolean;
  /** Start at the first record at or after this time (ms), via ListOffsets. */
  fromTimestamp?: number;
}

export interface RunConfig {
  eachMessage?: (payload: EachMessagePayload) => Promise<void> | void;
  eachBatch?: (payload: EachBatchPayload) => Promise<void> | void;
  /**
   * With false, as kafkajs's option, a batch whose handler returns counts as processed only up
   * to its last `resolveOffset`: the rest is fetched and delivered again, and a group commits
   * only what was resolved.
   * @default true - a batch handled to the end counts as processed whole
   */
  eachBatchAutoResolve?: boolean;
}

/** A partition a group hands to the fetch loops: from `position`, else from `start`. */
export interface ManagedPartition {
  topic: string;
  partition: number;
  position: number | undefined;
  start: OffsetSpec;
}

/**
 * Told the next offset of a partition once everything below it was handled (or skipped by
 * a reset): after each message, after a whole batch, at `resolveOffset`. Never for a seek.
 */
export type ProgressListener = (topic: string, partition: number, nextOffset: number) => void;

/** A request that failed with a retriable error and is tried again after `delayMs`. */
export interface RetryEvent {
  error: SluiceError;
  /** 0 for the first retry of this request. */
  attempt: number;
  delayMs: number;
  /** The partition the request was for, when it was for one. */
  topic?: string;
  partition?: number;
}


interface Cursor {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to hand out; undefined until `start` is resolved. */
  position: number | undefined;
  start: OffsetSpec;
  paused: boolean;
  /** Held by a record not due yet (retry-hold.ts): paused until then, whatever `resume` says. */
  heldUntilMs: number | undefined;
  /** Set when a group revokes the partition: its loop ends. */
  removed: boolean;
  /** Bumped by seek and pause: results fetched for an older generation are dropped. */
  generation: number;
  /** Bumped by seek only: a handled record moves the position unless a seek moved it meanwhile. */
  seeks: number;
  controller: AbortController;
  wake: (() => void) | undefined;
}

/** Pause after an empty fetch when maxWaitMs is 0. */
const EMPTY_FETCH_PAUSE_MS = 100;

const key = (topic: string, partition: number) => `${partition}\u0000${topic}`;

function checkRunConfig(running: boolean, config: RunConfig): void {
  if (running) throw new SluiceError('INVALID_REQUEST', 'The consumer is already running');
  if ((config.eachMessage === undefined) === (config.eachBatch === undefined)) throw new SluiceError('INVALID_REQUEST', 'run() takes exactly one of eachMessage and eachBatch');
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class Consumer {
  private assignments: TopicAssignment[] = [];
  private readonly cursors = new Map<string, Cursor>();
  private readonly seeks = new Map<string, number | 'earliest' | 'latest'>();
  private readonly pausedPartitions = new PausedPartitions();
  private readonly crashListeners: Array<(event: { error: unknown }) => void> = [];
  private readonly retryListeners: Array<(event: RetryEvent) => void> = [];
  private readonly fetchListeners: Array<(event: { topic: string; partition: number; offset: number }) => void> = [];
  private running = false;
  private readonly loops = new Map<string, Promise<void>>();
  private finished = deferred();
  /** Set while running. */
  private handlers: { config: RunConfig; slots: Semaphore } | undefined;
  private progress: ProgressListener | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly admin: Admin,
    readonly options: ResolvedConsumerOptions,
  ) {}

  /** Sets the partitions to consume (replacing any earlier assignment). Call before `run`. */
  assign(assignments: readonly TopicAssignment[]): void {
    if (this.running) throw new SluiceError('INVALID_REQUEST', 'assign() must be called before run() (or after stop())');
    for (const a of assignments) checkOptionKeys('consumer.assign()', a, ASSIGN_KEYS);
    this.assignments = assignments.map((a) => ({ ...a }));
  }

  /** Moves a partition's position: an offset, or `earliest` / `latest`. Takes effect at once when running. */
  seek(sought: { topic: string; partition: number; offset: number | string | 'earliest' | 'latest' }): void {
    checkOptionKeys('consumer.seek()', sought, SEEK_KEYS);
    const { topic, partition, offset } = sought;
    const target = offset === 'earliest' || offset === 'latest' ? offset : Number(offset);
    if (typeof target === 'number' && (!Number.isSafeInteger(target) || target < 0)) throw new SluiceError('INVALID_REQUEST', `seek offset must be a non-negative integer, 'earliest' or 'latest', got ${JSON.stringify(offset)}`);
    const cursor = this.cursors.get(key(topic, partition));
    if (!this.running || cursor === undefined) {
      if (this.running) throw new SluiceError('INVALID_REQUEST', `${topic}/${partition} is not assigned to this consumer`);
      this.seeks.set(key(topic, partition), target);
      return;
    }
    this.setPosition(cursor, target);
  }

  /** Stops fetching the given partitions (all of a topic when `partitions` is absent) until `resume`; works before and during `run`. */
  pause(topics: readonly TopicPartitions[]): void {
    this.pausedPartitions.pause(topics);
    for (const cursor of this.matching(topics)) {
      cursor.paused = true;
      this.interrupt(cursor);
    }
  }

  resume(topics: readonly TopicPartitions[]): void {
    this.pausedPartitions.resume(topics, (topic) => [...this.cursors.values()].filter((c) => c.topic === topic).map((c) => c.partition));
    for (const cursor of this.matching(topics)) {
      cursor.paused = this.pausedPartitions.has(cursor.topic, cursor.partition) || cursor.heldUntilMs !== undefined;
      if (!cursor.paused) cursor.wake?.();
    }
  }

  /** The paused partitions, by topic. */
  paused(): Array<{ topic: string; partitions: number[] }> {
    const byTopic = new Map<string, number[]>();
    for (const c of this.cursors.values()) if (c.paused) byTopic.set(c.topic, [...(byTopic.get(c.topic) ?? []), c.partition]);
    return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
  }

  /** The next offset this consumer will hand out for a partition, once known. */
  position(topic: string, partition: number): number | undefined {
    return this.cursors.get(key(topic, partition))?.position;
  }

  /** Called if the consumer stops on an error (a handler's, or a non-retriable fetch error). */
  on(event: 'crash', listener: (event: { error: unknown }) => void): void;
  /** Called as each fetch request starts. */
  on(event: 'fetch', listener: (event: { topic: string; partition: number; offset: number }) => void): void;
  /** Called for each request that failed with a retriable error and is tried again: an outage shows as a stream of these, never as a crash. */
  on(event: 'retry', listener: (event: RetryEvent) => void): void;
  on(event: 'crash' | 'fetch' | 'retry', listener: ((event: { error: unknown }) => void) | ((event: { topic: string; partition: number; offset: number }) => void) | ((event: RetryEvent) => void)): void {
    if (event === 'crash') this.crashListeners.push(listener as (event: { error: unknown }) => void);
    else if (event === 'retry') this.retryListeners.push(listener as (event: RetryEvent) => void);
    else this.fetchListeners.push(listener as (event: { topic: string; partition: number; offset: number }) => void);
  }

  /** @internal Tells the `retry` listeners; a group reports its own requests' retries here too. */
  retried(event: RetryEvent): void {
    for (const listener of this.retryListeners) listener(event);
  }

  /** @internal A retry listener for one request, tagged with its partition. */
  retryListener(topic?: string, partition?: number): RetryListener {
    return (error, attempt, delayMs) => this.retried({ error, attempt, delayMs, ...(topic === undefined ? {} : { topic }), ...(partition === undefined ? {} : { partition }) });
  }

  /** @internal Retry options for requests that must outlast any outage: retried until they succeed, fail for good, or are aborted. */
  get unlimitedRetry(): ResolvedRetryOptions {
    return { ...this.options, retries: Number.POSITIVE_INFINITY };
  }

  /**
   * Resolves the assignment and starting positions, then starts consuming; resolves once
   * the fetch loops run (as kafkajs's run). `done()` tells when they stop.
   */
  async run(config: RunConfig): Promise<void> {
    checkOptionKeys('consumer.run()', config, RUN_KEYS, RUN_HINTS);
    checkRunConfig(this.running, config);
    if (this.assignments.length === 0) throw new SluiceError('INVALID_REQUEST', 'Nothing assigned: call assign([{ topic }]) before run()');
    const cursors = await this.resolveCursors();
    this.start(config, undefined);
    for (const cursor of cursors) this.startLoop(cursor);
  }

  /** @internal For a consumer group: runs with no partitions; the group adds and removes them as it assigns and revokes. */
  startManaged(config: RunConfig, progress: ProgressListener): void {
    checkRunConfig(this.running, config);
    this.cursors.clear();
    this.start(config, progress);
  }

  /** @internal For a consumer group: starts fetching and handling these partitions (a pending `pause` applies). */
  addPartitions(partitions: readonly ManagedPartition[]): void {
    if (!this.running) return;
    for (const p of partitions) {
      const cursor: Cursor = { topic: p.topic, partition: p.partition, position: p.position, start: p.start, paused: this.pausedPartitions.has(p.topic, p.partition), heldUntilMs: undefined, removed: false, generation: 0, seeks: 0, controller: new AbortController(), wake: undefined };
      this.cursors.set(key(p.topic, p.partition), cursor);
      this.startLoop(cursor);
    }
  }

  /** @internal For a consumer group: stops these partitions and resolves once their handlers in progress have returned. */
  async removePartitions(partitions: readonly TopicPartition[]): Promise<void> {
    const stopped: Array<Promise<void>> = [];
    for (const { topic, partition } of partitions) {
      const k = key(topic, partition);
      const cursor = this.cursors.get(k);
      if (cursor === undefined) continue;
      cursor.removed = true;
      this.interrupt(cursor);
      stopped.push(this.loops.get(k) ?? Promise.resolve());
      this.cursors.delete(k);
      this.loops.delete(k);
    }
    await Promise.allSettled(stopped);
  }

  /** Settles when the current run stops: resolves after `stop()`, rejects with the error of a crash. */
  done(): Promise<void> {
    return this.finished.promise;
  }

  /**
   * Stops fetching and waits for handlers in progress, at most `timeoutMs` (then it resolves
   * and leaves a hung handler behind). Do not await it inside a handler: it waits for that handler.
   */
  async stop(options: CloseOptions = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const cursor of this.cursors.values()) this.interrupt(cursor);
    await settleWithin(Promise.allSettled(this.loops.values()), options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    this.finished.resolve();
  }

  /** Checks that the API answers (GET /v1/health); rejects naming the cause if not. run() needs no connect() first. */
  async connect(): Promise<void> {
    await this.admin.connect();
  }

  /** Stops, as `stop()`; the consumer holds no connection. */
  async disconnect(options: CloseOptions = {}): Promise<void> {
    await this.stop(options);
  }

  private start(config: RunConfig, progress: ProgressListener | undefined): void {
    this.finished = deferred();
    this.running = true;
    this.loops.clear();
    this.handlers = { config, slots: new Semaphore(this.options.partitionsConsumedConcurrently) };
    this.progress = progress;
  }

  private startLoop(cursor: Cursor): void {
    const { config, slots } = this.handlers as NonNullable<Consumer['handlers']>;
    this.loops.set(key(cursor.topic, cursor.partition), this.loop(cursor, config, slots));
  }

  private matching(topics: readonly TopicPartitions[]): Cursor[] {
    return [...this.cursors.values()].filter((c) => topics.some((t) => t.topic === c.topic && (t.partitions === undefined || t.partitions.includes(c.partition))));
  }

  /** Builds the cursors of the assignment; positions kept from an earlier run carry over. Changes nothing if it throws. */
  private async resolveCursors(): Promise<Cursor[]> {
    const previous = this.cursors;
    const cursors = new Map<string, Cursor>();
    for (const assignment of this.assignments) {
      const { partitions } = await this.admin.describeTopic(assignment.topic);
      const wanted = assignment.partitions ?? partitions.map((p) => p.partition);
      for (const partition of wanted) {
        if (!Number.isInteger(partition) || partition < 0 || partition >= partitions.length) {
          throw new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', `Topic ${assignment.topic} has ${partitions.length} partitions, no partition ${partition}`);
        }
        const k = key(assignment.topic, partition);
        const sought = this.seeks.get(k);
        const kept = previous.get(k)?.position;
        const start: OffsetSpec | undefined =
          sought === 'earliest' || sought === 'latest' ? sought : assignment.fromTimestamp ?? (assignment.fromBeginning === true ? 'earliest' : this.options.autoOffsetReset === 'none' ? undefined : this.options.autoOffsetReset);
        const position = typeof sought === 'number' ? sought : sought === undefined ? kept : undefined;
        if (position === undefined && start === undefined) {
          throw new SluiceError('OFFSET_OUT_OF_RANGE', `No position for ${assignment.topic}/${partition}: autoOffsetReset is 'none'; seek() or set fromBeginning / fromTimestamp`);
        }
        cursors.set(k, { topic: assignment.topic, partition, position, start: start ?? 'earliest', paused: this.pausedPartitions.has(assignment.topic, partition), heldUntilMs: undefined, removed: false, generation: 0, seeks: 0, controller: new AbortController(), wake: undefined });
      }
    }
    this.seeks.clear();
    this.cursors.clear();
    for (const [k, cursor] of cursors) this.cursors.set(k, cursor);
    return [...cursors.values()];
  }

  private interrupt(cursor: Cursor): void {
    cursor.generation++;
    cursor.controller.abort();
    cursor.controller = new AbortController();
    cursor.wake?.();
  }

  private setPosition(cursor: Cursor, target: number | 'earliest' | 'latest'): void {
    cursor.seeks++;
    cursor.position = typeof target === 'number' ? target : undefined;
    if (typeof target !== 'number') cursor.start = target;
    this.interrupt(cursor);
  }

  private fetch(cursor: Cursor, offset: number): Promise<ConsumedBatch> {
    const { maxBytesPerPartition: maxBytes, maxWaitMs: waitMs } = this.options;
    for (const listener of this.fetchListeners) listener({ topic: cursor.topic, partition: cursor.partition, offset });
    const onRetry = this.retryListener(cursor.topic, cursor.partition);
    const signal = cursor.controller.signal;
    const fetched = fetchPartition(this.transport, this.unlimitedRetry, { topic: cursor.topic, partition: cursor.partition, offset, maxBytes, waitMs, signal, onRetry });
    return this.options.resolveClaimChecks ? fetched.then((batch) => resolveClaimChecks(this.transport, this.options, batch, signal)) : fetched;
  }

  private async loop(cursor: Cursor, config: RunConfig, slots: Semaphore): Promise<void> {
    let prefetched: { offset: number; generation: number; batch: Promise<ConsumedBatch> } | undefined;
    while (this.running && !cursor.removed) {
      if (cursor.paused) {
        await new Promise<void>((resolve) => (cursor.wake = resolve));
        cursor.wake = undefined;
        continue;
      }
      const generation = cursor.generation;
      try {
        if (cursor.position === undefined) {
          const found = await lookupOffset(this.transport, this.unlimitedRetry, cursor.topic, cursor.partition, cursor.start, cursor.controller.signal, this.retryListener(cursor.topic, cursor.partition));
          if (generation === cursor.generation) this.advance(cursor, found.offset);
          continue;
        }
        const offset = cursor.position;
        const reuse = prefetched !== undefined && prefetched.offset === offset && prefetched.generation === generation;
        const batch = await (reuse ? (prefetched as { batch: Promise<ConsumedBatch> }).batch : this.fetch(cursor, offset));
        prefetched = undefined;
        if (generation !== cursor.generation || !this.running) continue;
        if (batch.messages.length > 0 && batch.nextOffset < batch.highWatermark) {
          prefetched = { offset: batch.nextOffset, generation, batch: this.fetch(cursor, batch.nextOffset) };
          prefetched.batch.catch(() => {});
        }
        if (batch.messages.length === 0 || (await this.deliver(cursor, batch, generation, config, slots))) {
          if (generation === cursor.generation) this.advance(cursor, Math.max(offset, batch.nextOffset));
        }
        // Without a long poll, an empty answer would be asked again at once, in a tight loop.
        if (batch.nextOffset === offset && this.options.maxWaitMs === 0) await sleep(EMPTY_FETCH_PAUSE_MS);
      } catch (error) {
        prefetched = undefined;
        if (!this.running || generation !== cursor.generation) continue;
        if (error instanceof SluiceError && error.code === 'OFFSET_OUT_OF_RANGE' && this.options.autoOffsetReset !== 'none') {
          this.reset(cursor, error);
          continue;
        }
        this.crash(error);
        return;
      }
    }
  }

  /** Moves an out-of-range position to the bound autoOffsetReset names, from the bounds the error carries. */
  private reset(cursor: Cursor, error: SluiceError): void {
    const bound = this.options.autoOffsetReset === 'earliest' ? error.details.logStartOffset : error.details.highWatermark;
    if (typeof bound === 'number') this.advance(cursor, bound);
    else {
      cursor.position = undefined;
      cursor.start = this.options.autoOffsetReset === 'earliest' ? 'earliest' : 'latest';
    }
  }

  /** Moves the position forward past what was handled or skipped, and tells the progress listener. */
  private advance(cursor: Cursor, position: number): void {
    const moved = cursor.position !== position;
    cursor.position = position;
    if (moved) this.progress?.(cursor.topic, cursor.partition, position);
  }

  /**
   * Hands a batch to the handler; true when all of it was handled. A record whose handler
   * returned, or whose offset was resolved, moves the position past it even if a pause made
   * the batch stale meanwhile, so it is never delivered again; only a seek moves it elsewhere.
   */
  private async deliver(cursor: Cursor, batch: ConsumedBatch, generation: number, config: RunConfig, slots: Semaphore): Promise<boolean> {
    const current = () => this.running && generation === cursor.generation;
    const seeks = cursor.seeks;
    await slots.acquire();
    try {
      if (!current()) return false;
      const processed = (offset: number) => {
        this.progress?.(batch.topic, batch.partition, offset + 1);
        if (cursor.seeks === seeks && !cursor.removed && (cursor.position ?? 0) < offset + 1) cursor.position = offset + 1;
      };
      if (config.eachBatch !== undefined) {
        await config.eachBatch({ batch, isRunning: () => this.running, isStale: () => !current(), resolveOffset: processed });
        // A handler that saw the batch go stale may have stopped early: only resolveOffset counts then,
        // and always without auto-resolve, so the next fetch starts past the last resolved offset.
        return current() && config.eachBatchAutoResolve !== false;
      }
      const eachMessage = config.eachMessage as NonNullable<RunConfig['eachMessage']>;
      for (const message of batch.messages) {
        if (!current()) return false;
        try {
          await eachMessage({ topic: batch.topic, partition: batch.partition, message });
        } catch (error) {
          if (!(error instanceof RecordNotDue)) throw error;
          this.hold(cursor, message.offset, error.dueAtMs);
          return false;
        }
        // Handled, whatever happened meanwhile: a group commits past it.
        processed(message.offset);
      }
      return true;
    } finally {
      slots.release();
    }
  }

  /**
   * Pauses a partition at a record that is not due yet (retry-hold.ts) and hands that record
   * out again at `dueAtMs`: it was not handled, so the position stays on it and nothing past it
   * is reported as processed.
   */
  private hold(cursor: Cursor, offset: number, dueAtMs: number): void {
    cursor.position = offset;
    cursor.heldUntilMs = dueAtMs;
    cursor.paused = true;
    this.interrupt(cursor);
    const timer = setTimeout(() => {
      if (cursor.heldUntilMs !== dueAtMs) return;
      cursor.heldUntilMs = undefined;
      cursor.paused = this.pausedPartitions.has(cursor.topic, cursor.partition);
      if (!cursor.paused) cursor.wake?.();
    }, Math.max(0, dueAtMs - Date.now()));
    // A stopped consumer's pending hold must not keep the process alive.
    timer.unref();
  }

  private crash(error: unknown): void {
    if (!this.running) return;
    this.running = false;
    for (const cursor of this.cursors.values()) this.interrupt(cursor);
    for (const listener of this.crashListeners) listener({ error });
    void Promise.allSettled(this.loops.values()).then(() => this.finished.reject(error));
  }
}
