/**
 * A consumer in a group (Kafka's subscribe mode, kafkajs's `consumer({ groupId })`): the
 * group coordinator (group-coordinator.ts) says which partitions this member owns, the fetch
 * loops of consumer.ts consume them, and group-offsets.ts commits what they processed.
 *
 * With autoCommit, processed offsets are committed every `autoCommitIntervalMs`, on each
 * revocation before the release, and on stop: never past a record whose handler has not
 * returned, so every record is processed at least once.
 *
 *   assigned  committed offsets → onPartitionsAssigned → fetch from the committed offset
 *             (a seek in the callback wins; no commit: autoOffsetReset)
 *   revoked   handlers stop → commit what they processed → onPartitionsRevoked → released
 *   lost      at the member's own deadline, whatever else is in progress: fetching, dispatch
 *             and commits stop at once → handlers in progress return → onPartitionsLost
 *             (default onPartitionsRevoked); nothing committed
 *
 * Faults: retriable errors never stop the member (consumer.ts, group-coordinator.ts); each
 * failed attempt is reported to `on('retry')`.
 */
import { SluiceError } from '../errors.ts';
import type { Admin } from './admin.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, settleWithin, type CloseOptions } from './close.ts';
import { Consumer, type ManagedPartition, type RetryEvent, type RunConfig, type TopicPartitions } from './consumer.ts';
import { GroupCoordinator, type MembershipListener } from './group-coordinator.ts';
import { GroupOffsets } from './group-offsets.ts';
import { fetchCommitted, tpKey, type TpKey } from './group-requests.ts';
import type { Transport } from './http.ts';
import { checkOptionKeys, GROUP_RUN_KEYS, RUN_HINTS, SEEK_KEYS, SUBSCRIBE_KEYS } from './option-keys.ts';
import { resolveProducerOptions, type ResolvedGroupConsumerOptions } from './options.ts';
import { Producer } from './producer.ts';
import { RetryRouter } from './retry-router.ts';
import type { RetryPolicy } from './retry-topics.ts';
import type { TopicPartition, TopicPartitionOffset } from './types.ts';

type Callback = (partitions: TopicPartition[]) => Promise<void> | void;

export interface GroupRunConfig extends RunConfig {
  /** Newly assigned partitions, before they are fetched: a `seek` here sets where one starts. */
  onPartitionsAssigned?: Callback;
  /** Their handlers have returned and (autoCommit) their offsets are committed; they are released when this returns. Commit here when autoCommit is off. */
  onPartitionsRevoked?: Callback;
  /** The membership was lost (fenced, or no heartbeat answered for the session timeout): handlers stopped, nothing committed, another member may own them already. @default - onPartitionsRevoked, as Kafka's */
  onPartitionsLost?: Callback;
  /** Non-blocking retries through `<topic>.retry.<n>` topics, then a dead-letter topic (retry-router.ts); eachMessage only. @default - a handler's error stops the consumer */
  retry?: RetryPolicy;
}

type State = 'idle' | 'running' | 'stopping';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class GroupConsumer {
  private topics: string[] = [];
  /** Subscribed with fromBeginning: a partition without a committed offset starts at the log start, whatever autoOffsetReset says (as kafkajs). */
  private readonly fromBeginning = new Set<string>();
  private readonly engine: Consumer;
  private coordinator: GroupCoordinator | undefined;
  private config: GroupRunConfig = {};
  private state: State = 'idle';
  private readonly offsets: GroupOffsets;
  /** Partitions between assignment and their first fetch, and seeks given to them meanwhile. */
  private readonly assigning = new Set<TpKey>();
  private readonly pendingSeeks = new Map<TpKey, number | 'earliest' | 'latest'>();
  private autoCommitTimer: NodeJS.Timeout | undefined;
  private autoCommitting = false;
  private stopping: Promise<void> | undefined;
  private finished = deferred();
  private readonly crashListeners: Array<(event: { error: unknown }) => void> = [];
  /** Partitions halted by a loss, until their handlers have returned. */
  private halted: Promise<unknown> = Promise.resolve();
  /** Aborted by a loss and by stop: an assignment still waiting for its committed offsets gives up. */
  private assigning$ = new AbortController();
  /** Set while running with `retry`. */
  private retryRouter: RetryRouter | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly admin: Admin,
    readonly options: ResolvedGroupConsumerOptions,
  ) {
    this.engine = new Consumer(transport, admin, options);
    this.offsets = new GroupOffsets(transport, options, options.groupId, () => this.coordinator, this.engine.retryListener());
    this.engine.on('crash', ({ error }) => void this.crash(error));
  }

  get groupId(): string {
    return this.options.groupId;
  }

  /** This member's id in the group, once `run` has been called. */
  get memberId(): string | undefined {
    return this.coordinator?.memberId;
  }

  /** This member's epoch: 0 while (re)joining, then bumped by each new assignment. */
  get memberEpoch(): number {
    return this.coordinator?.memberEpoch ?? 0;
  }

  /** Adds topics to the subscription (`{ topic }` or `{ topics }`); call before `run`. */
  subscribe(subscription: { topic?: string; topics?: readonly string[]; fromBeginning?: boolean }): void {
    checkOptionKeys('consumer.subscribe()', subscription, SUBSCRIBE_KEYS);
    if (this.state !== 'idle') throw new SluiceError('INVALID_REQUEST', 'subscribe() must be called before run() (or after stop())');
    const topics = [...(subscription.topics ?? []), ...(subscription.topic === undefined ? [] : [subscription.topic])];
    if (topics.length === 0 || topics.some((t) => typeof t !== 'string' || t === '')) throw new SluiceError('INVALID_REQUEST', `subscribe() takes { topic } or { topics } of topic names, got ${JSON.stringify(subscription)}`);
    this.topics = [...new Set([...this.topics, ...topics])];
    for (const t of topics) if (subscription.fromBeginning === true) this.fromBeginning.add(t);
  }

  /** Joins the group and starts consuming what it assigns; resolves once joined. `done()` tells when it stops. */
  async run(config: GroupRunConfig): Promise<void> {
    checkOptionKeys('consumer.run()', config, GROUP_RUN_KEYS, RUN_HINTS);
    if (this.state !== 'idle') throw new SluiceError('INVALID_REQUEST', 'The consumer is already running');
    if (this.topics.length === 0) throw new SluiceError('INVALID_REQUEST', 'Nothing subscribed: call subscribe({ topics }) before run()');
    const { onPartitionsAssigned: _a, onPartitionsRevoked: _r, onPartitionsLost: _l, retry, ...handlers } = config;
    if (retry !== undefined) {
      const router = await RetryRouter.start(retry, handlers, this.topics, this.admin, () => this.forwardingProducer());
      // Another run() may have started while the retry topics were being created.
      if ((this.state as State) !== 'idle') {
        await router.close();
        throw new SluiceError('INVALID_REQUEST', 'The consumer is already running');
      }
      this.retryRouter = router;
    } else this.retryRouter = undefined;
    // autoCommitThreshold: also commit once this many records were processed since the last commit.
    let sinceCommit = 0;
    const lastProgress = new Map<TpKey, number>();
    this.engine.startManaged(this.retryRouter?.wrap(handlers) ?? handlers, (topic, partition, nextOffset) => {
      this.offsets.progressed(topic, partition, nextOffset);
      const threshold = this.options.autoCommit ? this.options.autoCommitThreshold : undefined;
      if (threshold === undefined) return;
      const k = tpKey(topic, partition);
      sinceCommit += Math.max(0, nextOffset - (lastProgress.get(k) ?? nextOffset));
      lastProgress.set(k, nextOffset);
      if (sinceCommit >= threshold) {
        sinceCommit = 0;
        void this.autoCommit();
      }
    });
    this.config = config;
    this.offsets.clear();
    this.assigning$ = new AbortController();
    this.halted = Promise.resolve();
    this.finished = deferred();
    this.stopping = undefined;
    const { groupId: group, assignor, sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs } = this.options;
    const onRetry = this.engine.retryListener();
    const topics = [...this.topics, ...(this.retryRouter?.retryTopics() ?? [])];
    this.coordinator = new GroupCoordinator(this.transport, { group, topics, assignor, sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, retry: this.options, onRetry }, this.membership());
    this.state = 'running';
    try {
      await this.coordinator.start();
    } catch (error) {
      this.state = 'idle';
      await this.engine.stop();
      await this.retryRouter?.close();
      throw error;
    }
    // (Not if stop() was called while joining.)
    if (this.options.autoCommit && (this.state as State) === 'running') this.autoCommitTimer = setInterval(() => void this.autoCommit(), this.options.autoCommitIntervalMs);
  }

  /**
   * Commits offsets now (each the NEXT offset to consume). On STALE_MEMBER_EPOCH it heartbeats
   * and tries again if the partitions are still this member's; rejects otherwise.
   */
  async commitOffsets(offsets: ReadonlyArray<{ topic: string; partition: number; offset: number | string }>): Promise<void> {
    const parsed = offsets.map(({ topic, partition, offset }) => {
      const n = Number(offset);
      if (!Number.isSafeInteger(n) || n < 0) throw new SluiceError('INVALID_REQUEST', `A committed offset must be a non-negative integer, got ${JSON.stringify(offset)} for ${topic}/${partition}`);
      return { topic, partition, offset: n };
    });
    if (parsed.length > 0) await this.offsets.commit(parsed, 'owned');
  }

  /** The partitions this member owns now. */
  assignment(): TopicPartition[] {
    return this.coordinator?.assignment() ?? [];
  }

  /** Moves an owned partition's position (see Consumer.seek); inside onPartitionsAssigned it sets where the partition starts. */
  seek(target: { topic: string; partition: number; offset: number | string | 'earliest' | 'latest' }): void {
    checkOptionKeys('consumer.seek()', target, SEEK_KEYS);
    const k = tpKey(target.topic, target.partition);
    if (!this.assigning.has(k)) return this.engine.seek(target);
    const { offset } = target;
    const value = offset === 'earliest' || offset === 'latest' ? offset : Number(offset);
    if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 0)) throw new SluiceError('INVALID_REQUEST', `seek offset must be a non-negative integer, 'earliest' or 'latest', got ${JSON.stringify(offset)}`);
    this.pendingSeeks.set(k, value);
  }

  pause(topics: readonly TopicPartitions[]): void {
    this.engine.pause(topics);
  }

  resume(topics: readonly TopicPartitions[]): void {
    this.engine.resume(topics);
  }

  paused(): Array<{ topic: string; partitions: number[] }> {
    return this.engine.paused();
  }

  position(topic: string, partition: number): number | undefined {
    return this.engine.position(topic, partition);
  }

  /** Called if the consumer stops on an error; it has committed what was processed and left the group by then. */
  on(event: 'crash', listener: (event: { error: unknown }) => void): void;
  /** Called after each accepted commit, auto or by hand, with the offsets committed. */
  on(event: 'commit', listener: (offsets: readonly TopicPartitionOffset[]) => void): void;
  /** Called as each fetch request starts. */
  on(event: 'fetch', listener: (event: { topic: string; partition: number; offset: number }) => void): void;
  /** Called for each request that failed with a retriable error and is tried again (an outage shows as a stream of these, never as a crash). */
  on(event: 'retry', listener: (event: RetryEvent) => void): void;
  on(
    event: 'crash' | 'commit' | 'fetch' | 'retry',
    listener: ((event: { error: unknown }) => void) | ((offsets: readonly TopicPartitionOffset[]) => void) | ((event: { topic: string; partition: number; offset: number }) => void) | ((event: RetryEvent) => void),
  ): void {
    if (event === 'crash') this.crashListeners.push(listener as (event: { error: unknown }) => void);
    else if (event === 'commit') this.offsets.committedListeners.push(listener as (offsets: readonly TopicPartitionOffset[]) => void);
    else if (event === 'retry') this.engine.on('retry', listener as (event: RetryEvent) => void);
    else this.engine.on('fetch', listener as (event: { topic: string; partition: number; offset: number }) => void);
  }

  /** Processed offsets not committed yet (each the next offset to consume), as kafkajs's uncommittedOffsets. */
  uncommittedOffsets(): TopicPartitionOffset[] {
    return this.offsets.uncommitted();
  }

  /** Commits now what the handlers processed in the partitions this member owns (what autoCommit commits on its interval). */
  async commitProcessed(): Promise<void> {
    const coordinator = this.coordinator;
    if (coordinator === undefined) return;
    await this.offsets.commitProcessed(this.offsets.partitions().filter((p) => coordinator.owns(p.topic, p.partition)), 'owned');
  }

  /** Settles when the run stops: resolves after `stop()`, rejects with the error of a crash. */
  done(): Promise<void> {
    return this.finished.promise;
  }

  /**
   * Stops handling, commits what was processed (autoCommit), calls onPartitionsRevoked and
   * leaves the group; ends a join in progress. After `timeoutMs` it gives up on what is left
   * (a commit or leave on its retries, a hung handler) and resolves: the group then moves the
   * partitions after the session timeout. Not from inside a handler.
   */
  async stop(options: CloseOptions = {}): Promise<void> {
    await this.shutdown(options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    this.finished.resolve();
  }

  /** Checks that the API answers (GET /v1/health); rejects naming the cause if not. run() needs no connect() first. */
  async connect(): Promise<void> {
    await this.engine.connect();
  }

  async disconnect(options: CloseOptions = {}): Promise<void> {
    await this.stop(options);
  }

  private shutdown(timeoutMs: number = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.state !== 'running') return this.stopping ?? Promise.resolve();
    this.state = 'stopping';
    clearInterval(this.autoCommitTimer);
    this.stopping = (async () => {
      const coordinator = this.coordinator;
      const deadlineMs = performance.now() + timeoutMs;
      await settleWithin(coordinator?.stop() ?? Promise.resolve(), timeoutMs);
      // Out of time: abandon the commit and the leave still retrying.
      coordinator?.abort();
      this.offsets.fence(this.offsets.partitions());
      this.assigning$.abort();
      await this.engine.stop({ timeoutMs: Math.max(0, deadlineMs - performance.now()) });
      await this.retryRouter?.close({ timeoutMs: Math.max(0, deadlineMs - performance.now()) });
      this.state = 'idle';
    })();
    return this.stopping;
  }

  private async crash(error: unknown): Promise<void> {
    if (this.state !== 'running') return;
    for (const listener of this.crashListeners) listener({ error });
    await this.shutdown();
    this.finished.reject(error);
  }

  private membership(): MembershipListener {
    return {
      assigned: (partitions) => this.assigned(partitions),
      revoked: async (partitions) => {
        await this.engine.removePartitions(partitions);
        // Fenced while the handlers were stopping (past the rebalance timeout): the partitions
        // may be someone else's already; the loss halted them and reports them lost, so
        // nothing is committed and onPartitionsRevoked is not called.
        if (!partitions.every((p) => this.coordinator?.holds(p.topic, p.partition) === true)) return;
        // The server releases the partitions on the next heartbeat: commit before it. Best
        // effort: if the commit fails, the next owner starts from the last commit (at least once).
        if (this.options.autoCommit) await this.offsets.commitProcessed(partitions, 'releasing').catch(() => {});
        await this.config.onPartitionsRevoked?.(partitions);
        for (const p of partitions) this.offsets.forget(p.topic, p.partition);
      },
      halt: (partitions) => {
        // Synchronously: cursors are interrupted and dropped before removePartitions first awaits.
        this.halted = Promise.all([this.halted, this.engine.removePartitions(partitions)]);
        this.offsets.fence(partitions);
        this.assigning$.abort();
        this.assigning$ = new AbortController();
      },
      lost: async (partitions) => {
        await this.halted;
        await (this.config.onPartitionsLost ?? this.config.onPartitionsRevoked)?.(partitions);
      },
      failed: (error) => void this.crash(error),
    };
  }

  private async assigned(partitions: TopicPartition[]): Promise<void> {
    const keys = partitions.map((p) => tpKey(p.topic, p.partition));
    for (const k of keys) this.assigning.add(k);
    const held = () => partitions.filter((p) => this.coordinator?.holds(p.topic, p.partition) === true);
    try {
      let listed;
      try {
        // Through any outage, until the membership is lost (the rejoin assigns afresh).
        listed = await fetchCommitted(this.transport, this.engine.unlimitedRetry, this.options.groupId, this.assigning$.signal, this.engine.retryListener());
      } catch (error) {
        if (held().length === 0 || this.state !== 'running') return;
        throw error;
      }
      const found = new Map(listed.map((c) => [tpKey(c.topic, c.partition), c.offset]));
      for (const p of partitions) this.offsets.assigned(p.topic, p.partition, found.get(tpKey(p.topic, p.partition)));
      await this.config.onPartitionsAssigned?.(partitions);
      // Lost meanwhile (halted): these must not start.
      this.engine.addPartitions(held().map((p) => this.startOf(p, found.get(tpKey(p.topic, p.partition)))));
    } finally {
      for (const k of keys) {
        this.assigning.delete(k);
        this.pendingSeeks.delete(k);
      }
    }
  }

  /** Where an assigned partition starts: a seek from onPartitionsAssigned, else its committed offset, else autoOffsetReset. */
  private startOf({ topic, partition }: TopicPartition, committed: number | undefined): ManagedPartition {
    const reset = this.options.autoOffsetReset;
    const sought = this.pendingSeeks.get(tpKey(topic, partition));
    if (typeof sought === 'number') return { topic, partition, position: sought, start: 'earliest' };
    if (sought !== undefined) return { topic, partition, position: undefined, start: sought };
    if (committed !== undefined) return { topic, partition, position: committed, start: reset === 'none' ? 'earliest' : reset };
    if (this.fromBeginning.has(topic)) return { topic, partition, position: undefined, start: 'earliest' };
    if (reset === 'none') throw new SluiceError('OFFSET_OUT_OF_RANGE', `Group ${this.options.groupId} has no committed offset for ${topic}/${partition} and autoOffsetReset is 'none'`);
    return { topic, partition, position: undefined, start: reset };
  }

  /** The idempotent producer that forwards failed records to the retry and dead-letter topics, with this consumer's retry options. */
  private forwardingProducer(): Producer {
    const { retries, retryBackoffMs, retryBackoffMaxMs, requestTimeoutMs } = this.options;
    const options = resolveProducerOptions({ idempotent: true, retries, retryBackoffMs, retryBackoffMaxMs, requestTimeoutMs }, undefined);
    return new Producer(this.transport, (topic) => this.admin.describeTopic(topic), options);
  }

  private async autoCommit(): Promise<void> {
    const coordinator = this.coordinator;
    if (this.autoCommitting || this.state !== 'running' || coordinator === undefined) return;
    this.autoCommitting = true;
    try {
      const owned = this.offsets.partitions().filter((p) => coordinator.owns(p.topic, p.partition));
      // A failed auto-commit is tried again at the next interval.
      await this.offsets.commitProcessed(owned, 'owned').catch(() => {});
    } finally {
      this.autoCommitting = false;
    }
  }
}
