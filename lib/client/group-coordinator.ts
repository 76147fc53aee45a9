/**
 * A member's half of the KIP-848 heartbeat protocol (the server's half, and the rules it
 * enforces, are in lib/groups/reconcile.ts):
 *
 *   join     heartbeat with epoch 0 and the subscription             → epoch n, assignment A
 *   steady   a heartbeat every heartbeatIntervalMs (the group's), reporting what it still owns
 *   answer   A is what the member may own NOW:
 *              owned \ A  revoked:  listener.revoked (stop handlers, commit, onPartitionsRevoked),
 *                                   then a heartbeat at once that leaves them out: released
 *              A \ owned  assigned: listener.assigned (committed offsets, onPartitionsAssigned, fetch)
 *   UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, or no heartbeat answered for the session timeout
 *            lost: listener.lost (stop, nothing committed: someone else may own them already),
 *                  then rejoin with epoch 0
 *   stop     revoke everything as above, then leave with epoch -1
 *
 * Listener calls run one at a time, in order (`work`). The heartbeat loop never waits for
 * them, except to rejoin after a loss, so a slow handler delays a release, never the lease.
 * A loss does not queue behind them: `listener.halt` stops fetching, dispatch and commits
 * of every owned partition at once, whatever step is running (a revocation committing on
 * its retries, a slow onPartitionsRevoked, an assignment waiting for its offsets), and only
 * the onPartitionsLost callback waits its turn.
 *
 * Faults: the join and rejoins are retried without limit on retriable errors (each failed
 * attempt reported to `onRetry`), so a member rides out an outage of any length; `stop()`
 * ends a join in progress.
 *
 * Session deadline: the server's lease runs from when it handled a heartbeat, which is after
 * the member sent it; the member counts from the send, less a margin for stopping its
 * handlers, so it has stopped processing before the server can give its partitions away.
 */
import { randomUUID } from 'node:crypto';
import { GROUPS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';
import { backoffDelayMs } from '../retry.ts';
import { isRetriable } from './http-errors.ts';
import type { RetryListener, Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';
import { groupByTopic, keysOf, parseTpKey, sendHeartbeat, tpKey, type HeartbeatAnswer, type HeartbeatBody, type TpKey } from './group-requests.ts';
import type { GroupAssignor, TopicPartition } from './types.ts';

/** What the consumer does when partitions come and go. Calls never overlap. */
export interface MembershipListener {
  assigned(partitions: TopicPartition[]): Promise<void>;
  /** Must stop handling and commit before resolving: the partitions are released right after. */
  revoked(partitions: TopicPartition[]): Promise<void>;
  /** Synchronous, and never queued: stops fetching, handler dispatch and commits of these partitions now. */
  halt(partitions: TopicPartition[]): void;
  /** After `halt`, in turn with the other calls: wait for the handlers, then onPartitionsLost. */
  lost(partitions: TopicPartition[]): Promise<void>;
  /** An error the member cannot go on from: a non-retriable heartbeat answer, or a listener's error. */
  failed(error: unknown): void;
}

export interface CoordinatorConfig {
  group: string;
  topics: readonly string[];
  /** KIP-848 subscribedTopicRegex (see topic-patterns.ts); topics created later that match are assigned without a rejoin. */
  topicRegex: string | undefined;
  /** group.instance.id: a static member, which leaves with epoch -2 so a restart moves nothing. */
  instanceId: string | undefined;
  assignor: GroupAssignor | undefined;
  sessionTimeoutMs: number | undefined;
  heartbeatIntervalMs: number | undefined;
  rebalanceTimeoutMs: number | undefined;
  retry: ResolvedRetryOptions;
  /** Told of every failed heartbeat or join attempt that will be tried again. */
  onRetry?: RetryListener;
}

type State = 'idle' | 'active' | 'leaving' | 'stopped';

const FENCING = new Set(['UNKNOWN_MEMBER_ID', 'FENCED_MEMBER_EPOCH']);

export class GroupCoordinator {
  readonly memberId = randomUUID();
  private epoch = 0;
  /** Handed to the listener and not yet released; reported in every heartbeat. */
  private readonly owned = new Set<TpKey>();
  /** The last assignment received; undefined before the first and after a loss. */
  private target: Set<TpKey> | undefined;
  private state: State = 'idle';
  private intervalMs: number;
  /** The group's session timeout: the configured or default one until the group tells. */
  private sessionTimeoutMs: number;
  private lastAnsweredSendMs = 0;
  private sessionTimer: NodeJS.Timeout | undefined;
  /** Bumped by every loss: answers to heartbeats sent before it are dropped. */
  private membership = 0;
  private work: Promise<void> = Promise.resolve();
  private reconcileQueued = false;
  private losing: Promise<void> | undefined;
  private failures = 0;
  private wakeRequested = false;
  private wakeUp: (() => void) | undefined;
  /** Callers of heartbeatNow, answered by the next heartbeat sent. */
  private waiters: Array<() => void> = [];
  private readonly initialLoop: Promise<void> = Promise.resolve();
  private loopDone: Promise<void> = this.initialLoop;
  private stopped: Promise<void> | undefined;
  /** Aborts the join and the leave: `stop()` ends a join, `abort()` ends a stop that overran. */
  private readonly requests = new AbortController();

  constructor(
    private readonly transport: Transport,
    private readonly config: CoordinatorConfig,
    private readonly listener: MembershipListener,
  ) {
    this.intervalMs = config.heartbeatIntervalMs ?? GROUPS.heartbeatIntervalMs;
    this.sessionTimeoutMs = config.sessionTimeoutMs ?? GROUPS.sessionTimeoutMs;
  }

  get memberEpoch(): number {
    return this.epoch;
  }

  /** The partitions this member owns now (assigned and not released). */
  assignment(): TopicPartition[] {
    return [...this.owned].map(parseTpKey);
  }

  /** True while the partition is this member's at its current epoch: a commit of it can succeed. */
  owns(topic: string, partition: number): boolean {
    const k = tpKey(topic, partition);
    return this.epoch > 0 && this.state === 'active' && this.owned.has(k) && this.target?.has(k) === true;
  }

  /** True while the partition is this member's, revoked or not, until it reports it released. */
  holds(topic: string, partition: number): boolean {
    return this.epoch > 0 && this.owned.has(tpKey(topic, partition));
  }

  /**
   * Joins the group; resolves with the first answer, or once `stop()` ended the join.
   * Retriable errors are retried without limit; rejects on any other.
   */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new SluiceError('INVALID_REQUEST', 'A group member starts once');
    this.state = 'active';
    try {
      await this.beat({ ...this.config.retry, retries: Number.POSITIVE_INFINITY }, this.config.onRetry);
    } catch (error) {
      const stoppedWhileJoining = (this.state as State) !== 'active';
      this.state = 'stopped';
      if (stoppedWhileJoining) return;
      throw error;
    }
    if ((this.state as State) === 'active') this.loopDone = this.loop();
  }

  /** Ends the requests `stop()` is still waiting for (a leave on its retries): for a stop that ran out of time. */
  abort(): void {
    this.requests.abort();
  }

  /** Sends a heartbeat now; resolves once one sent after this call is answered (or failed), at once when not a member. */
  heartbeatNow(): Promise<void> {
    if (this.state === 'idle' || this.state === 'stopped' || this.epoch <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.wake();
    });
  }

  /** Revokes everything (commits through the listener), then leaves the group. */
  stop(): Promise<void> {
    if (this.state === 'idle') this.state = 'stopped';
    if (this.state === 'stopped' || this.stopped !== undefined) return this.stopped ?? Promise.resolve();
    if (this.epoch <= 0 && this.owned.size === 0 && this.loopDone === this.initialLoop) {
      // Still joining: end the join; start() resolves.
      this.state = 'stopped';
      this.requests.abort();
      return Promise.resolve();
    }
    this.state = 'leaving';
    this.stopped = (async () => {
      this.queueReconcile();
      await this.drain();
      this.state = 'stopped';
      clearTimeout(this.sessionTimer);
      this.wake();
      await this.loopDone;
      this.answerWaiters();
      const left = [...this.owned].map(parseTpKey);
      this.owned.clear();
      if (left.length > 0) {
        this.listener.halt(left);
        await this.listener.lost(left).catch(() => {});
      }
      if (this.epoch > 0) {
        this.epoch = 0;
        // Best effort: without it the group waits for the session timeout. A static member
        // leaves with -2: the group keeps its partitions for a restart under its instanceId.
        await sendHeartbeat(this.transport, this.heartbeatRetry(), this.config.group, this.leaveBody(), this.requests.signal).catch(() => {});
      }
    })();
    return this.stopped;
  }

  private async loop(): Promise<void> {
    while (this.state === 'active' || this.state === 'leaving') {
      await this.pause();
      if (this.losing !== undefined) await this.losing;
      // (Read afresh: the awaits above may have changed it.)
      const state = this.state as State;
      if (state === 'stopped' || (state === 'leaving' && this.epoch === 0)) break;
      const answering = this.waiters.splice(0);
      try {
        await this.beat(this.heartbeatRetry());
        this.failures = 0;
      } catch (error) {
        this.failures++;
        if (error instanceof SluiceError && FENCING.has(error.code)) void this.lose();
        else if (!(error instanceof SluiceError) || !isRetriable(error)) this.listener.failed(error);
        else this.config.onRetry?.(error, this.failures - 1, this.nextPauseMs());
      } finally {
        for (const answered of answering) answered();
      }
    }
  }

  /** One heartbeat and its answer. */
  private async beat(retry: ResolvedRetryOptions, onRetry?: RetryListener): Promise<void> {
    const membership = this.membership;
    // Monotonic: the session deadline must not move with the wall clock.
    const sentAtMs = performance.now();
    let answer: HeartbeatAnswer;
    try {
      answer = await sendHeartbeat(this.transport, retry, this.config.group, this.body(), this.requests.signal, onRetry);
    } catch (error) {
      // An answer about a membership already given up is no news.
      if (membership !== this.membership) return;
      throw error;
    }
    if (this.state === 'stopped') {
      // Stopped while joining: do not leave a member behind for the session timeout.
      if (answer.memberEpoch > 0) void sendHeartbeat(this.transport, this.heartbeatRetry(), this.config.group, this.leaveBody()).catch(() => {});
      return;
    }
    if (membership !== this.membership) return;
    this.epoch = answer.memberEpoch;
    this.intervalMs = answer.heartbeatIntervalMs;
    this.sessionTimeoutMs = answer.sessionTimeoutMs;
    this.lastAnsweredSendMs = sentAtMs;
    this.armSessionTimer();
    this.target = new Set(keysOf(answer.assignment));
    this.queueReconcile();
  }

  private instance(): { instanceId?: string } {
    return this.config.instanceId === undefined ? {} : { instanceId: this.config.instanceId };
  }

  private leaveBody(): HeartbeatBody {
    return this.config.instanceId === undefined ? { memberId: this.memberId, memberEpoch: -1 } : { memberId: this.memberId, memberEpoch: -2, instanceId: this.config.instanceId };
  }

  private body(): HeartbeatBody {
    if (this.epoch > 0) return { memberId: this.memberId, memberEpoch: this.epoch, ownedPartitions: groupByTopic(this.owned), ...this.instance() };
    const { topics, topicRegex, assignor, sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs } = this.config;
    return {
      memberId: this.memberId,
      memberEpoch: 0,
      ...this.instance(),
      subscribedTopics: [...topics],
      ...(topicRegex === undefined ? {} : { subscribedTopicRegex: topicRegex }),
      ownedPartitions: [],
      ...(assignor === undefined ? {} : { assignor }),
      ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
      ...(heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs }),
      ...(rebalanceTimeoutMs === undefined ? {} : { rebalanceTimeoutMs }),
    };
  }

  /** Heartbeats are retried by the loop, not the transport: a late retry is worth less than the next beat. */
  private heartbeatRetry(): ResolvedRetryOptions {
    return { ...this.config.retry, retries: 0, requestTimeoutMs: Math.min(this.config.retry.requestTimeoutMs, this.sessionTimeoutMs) };
  }

  private armSessionTimer(): void {
    clearTimeout(this.sessionTimer);
    // Stop early enough that a busy event loop (timers firing late) still stops before the
    // server can hand the partitions to someone else.
    const marginMs = Math.min(2 * this.intervalMs, this.sessionTimeoutMs / 5);
    const membership = this.membership;
    const delayMs = this.lastAnsweredSendMs + this.sessionTimeoutMs - marginMs - performance.now();
    this.sessionTimer = setTimeout(() => {
      if (membership === this.membership && this.epoch > 0) void this.lose();
    }, Math.max(0, delayMs));
  }

  /**
   * Drops the membership: the partitions stop at once (IMPORTANT: not queued — the session
   * deadline does not wait for a revocation in progress), the lost callback runs in turn,
   * and the loop rejoins once it has.
   */
  private lose(): Promise<void> {
    this.membership++;
    this.epoch = 0;
    this.target = undefined;
    clearTimeout(this.sessionTimer);
    this.answerWaiters();
    const lost = [...this.owned].map(parseTpKey);
    this.owned.clear();
    if (lost.length > 0) this.listener.halt(lost);
    const losing = this.enqueue(async () => {
      if (lost.length > 0) await this.listener.lost(lost);
    });
    this.losing = losing;
    void losing.then(() => {
      if (this.losing === losing) this.losing = undefined;
    });
    this.wake();
    return losing;
  }

  private queueReconcile(): void {
    if (this.reconcileQueued) return;
    this.reconcileQueued = true;
    void this.enqueue(() => {
      this.reconcileQueued = false;
      return this.reconcile();
    });
  }

  /** Moves the owned partitions toward the target: revocations first, then additions. */
  private async reconcile(): Promise<void> {
    const target = this.state === 'leaving' ? new Set<TpKey>() : this.target;
    if (target === undefined || this.epoch <= 0) return;
    const membership = this.membership;
    const revoked = [...this.owned].filter((k) => !target.has(k));
    if (revoked.length > 0) {
      await this.listener.revoked(revoked.map(parseTpKey));
      for (const k of revoked) this.owned.delete(k);
      // Report the release at once: the new owner is waiting for it.
      this.wake();
    }
    if (membership !== this.membership || this.state !== 'active' || this.target === undefined) return;
    const added = [...this.target].filter((k) => !this.owned.has(k));
    if (added.length === 0) return;
    for (const k of added) this.owned.add(k);
    await this.listener.assigned(added.map(parseTpKey));
  }

  /** Runs listener steps one after another; a step's error fails the member. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    this.work = this.work.then(step).catch((error: unknown) => {
      queueMicrotask(() => this.listener.failed(error));
    });
    return this.work;
  }

  /** Waits until no listener step is queued or running. */
  private async drain(): Promise<void> {
    for (let seen = this.work; ; seen = this.work) {
      await seen;
      if (seen === this.work) return;
    }
  }

  private answerWaiters(): void {
    for (const answered of this.waiters.splice(0)) answered();
  }

  private wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  /** The wait before the next heartbeat: the interval, or a shorter backoff after a failure. */
  private nextPauseMs(): number {
    if (this.failures === 0) return this.intervalMs;
    return Math.min(this.intervalMs, Math.max(this.config.retry.retryBackoffMs, backoffDelayMs(this.failures - 1, { baseMs: this.config.retry.retryBackoffMs, capMs: this.intervalMs })));
  }

  /** Sleeps until the next heartbeat is due, or at once when woken. */
  private async pause(): Promise<void> {
    if (this.wakeRequested) {
      this.wakeRequested = false;
      return;
    }
    const ms = this.nextPauseMs();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = undefined;
    this.wakeRequested = false;
  }
}
