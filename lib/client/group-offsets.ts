/**
 * A group member's offsets: what its handlers processed per partition, what it last
 * committed, and the commits themselves (OffsetCommit).
 *
 * A committed offset is the NEXT offset to consume (Kafka's convention). `processed` moves only
 * past records whose handler returned, so committing it never commits an unprocessed record.
 * Commits go one at a time, and each request carries an increasing `commitSequence`: an
 * attempt that the transport gave up on but that reaches the server late, after a newer
 * commit, is refused there (OUT_OF_ORDER_SEQUENCE_NUMBER), so the committed offset never moves
 * back unless the member commits a lower offset on purpose. A commit
 * answered STALE_MEMBER_EPOCH (the epoch moved on, or a partition was revoked) heartbeats and
 * is sent again if the member still has the partitions; otherwise it rejects.
 */
import { SluiceError } from '../errors.ts';
import { MAX_OFFSETS_PER_COMMIT, parseTpKey, sendCommit, tpKey, type TpKey } from './group-requests.ts';
import type { RetryListener, Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';
import type { TopicPartitionOffset } from './types.ts';

/** The membership a commit is made under (GroupCoordinator). */
export interface CommittingMember {
  readonly memberId: string;
  readonly memberEpoch: number;
  heartbeatNow(): Promise<void>;
  /** Assigned at the current epoch. */
  owns(topic: string, partition: number): boolean;
  /** Assigned, or revoked and not yet released. */
  holds(topic: string, partition: number): boolean;
}

/**
 * What a commit may cover: partitions the member owns at its epoch, or (on revocation, before
 * the release) partitions it still holds — the server accepts both.
 */
export type CommitScope = 'owned' | 'releasing';

/** Attempts of a commit that meets STALE_MEMBER_EPOCH. */
const STALE_COMMIT_ATTEMPTS = 3;

export class GroupOffsets {
  /** Next offset past what the handlers processed, per partition held. */
  private readonly processed = new Map<TpKey, number>();
  /** Last offset committed (or found committed at assignment), per partition held. */
  private readonly committed = new Map<TpKey, number>();
  private commits: Promise<void> = Promise.resolve();
  /** The last commitSequence sent; only ever grows, so it increases within every member epoch. */
  private sequence = 0;
  /** Aborted by `fence`: a commit on its retries when the membership is lost is not sent again. */
  private inFlight = new AbortController();
  /** Told each committed chunk of offsets, after the server accepted it. */
  readonly committedListeners: Array<(offsets: readonly TopicPartitionOffset[]) => void> = [];

  constructor(
    private readonly transport: Transport,
    private readonly retry: ResolvedRetryOptions,
    private readonly group: string,
    private readonly member: () => CommittingMember | undefined,
    private readonly onRetry?: RetryListener,
  ) {}

  /** The fetch loops' progress listener. */
  progressed(topic: string, partition: number, nextOffset: number): void {
    this.processed.set(tpKey(topic, partition), nextOffset);
  }

  /** Starts a partition's bookkeeping afresh at its committed offset (undefined: none). */
  assigned(topic: string, partition: number, committed: number | undefined): void {
    const k = tpKey(topic, partition);
    this.processed.delete(k);
    if (committed === undefined) this.committed.delete(k);
    else this.committed.set(k, committed);
  }

  /**
   * The membership is lost: forgets these partitions' progress and aborts any commit in
   * flight, so nothing is committed for them after the member's deadline.
   */
  fence(partitions: ReadonlyArray<{ topic: string; partition: number }>): void {
    for (const { topic, partition } of partitions) this.forget(topic, partition);
    this.inFlight.abort(new SluiceError('UNKNOWN_MEMBER_ID', `The membership of group ${this.group} was lost; the commit was abandoned`));
    this.inFlight = new AbortController();
  }

  forget(topic: string, partition: number): void {
    this.processed.delete(tpKey(topic, partition));
    this.committed.delete(tpKey(topic, partition));
  }

  clear(): void {
    this.processed.clear();
    this.committed.clear();
  }

  /** Processed offsets not committed yet (each the next offset to consume). */
  uncommitted(): TopicPartitionOffset[] {
    const offsets: TopicPartitionOffset[] = [];
    for (const [k, offset] of this.processed) if (offset !== this.committed.get(k)) offsets.push({ ...parseTpKey(k), offset });
    return offsets;
  }

  /** Partitions with processing recorded. */
  partitions(): Array<{ topic: string; partition: number }> {
    return [...this.processed.keys()].map(parseTpKey);
  }

  /** Commits the processed offsets of `partitions` that moved since their last commit. */
  commitProcessed(partitions: ReadonlyArray<{ topic: string; partition: number }>, scope: CommitScope): Promise<void> {
    return this.serialized(async () => {
      const offsets: TopicPartitionOffset[] = [];
      for (const { topic, partition } of partitions) {
        const offset = this.processed.get(tpKey(topic, partition));
        if (offset !== undefined && offset !== this.committed.get(tpKey(topic, partition))) offsets.push({ topic, partition, offset });
      }
      if (offsets.length > 0) await this.send(offsets, scope);
    });
  }

  /** Commits these offsets (a caller's `commitOffsets`). */
  commit(offsets: readonly TopicPartitionOffset[], scope: CommitScope): Promise<void> {
    return this.serialized(() => this.send(offsets, scope));
  }

  private async send(offsets: readonly TopicPartitionOffset[], scope: CommitScope): Promise<void> {
    const member = this.member();
    const { signal } = this.inFlight;
    let pending = offsets;
    for (let attempt = 1; ; attempt++) {
      const { memberId, memberEpoch } = member ?? { memberId: '', memberEpoch: 0 };
      try {
        for (let i = 0; i < pending.length; i += MAX_OFFSETS_PER_COMMIT) {
          if (member === undefined || member.memberEpoch <= 0 || signal.aborted) throw new SluiceError('UNKNOWN_MEMBER_ID', `Not a member of group ${this.group} now (joining, or rejoining after a loss); nothing committed`);
          const chunk = pending.slice(i, i + MAX_OFFSETS_PER_COMMIT);
          this.sequence += 1;
          await sendCommit(this.transport, this.retry, this.group, { memberId, memberEpoch, commitSequence: this.sequence }, chunk, signal, this.onRetry);
          for (const o of chunk) this.committed.set(tpKey(o.topic, o.partition), o.offset);
          for (const listener of this.committedListeners) listener(chunk);
        }
        return;
      } catch (error) {
        if (!(error instanceof SluiceError) || error.code !== 'STALE_MEMBER_EPOCH' || attempt >= STALE_COMMIT_ATTEMPTS || member === undefined) throw error;
        // Either the epoch moved on or a partition was revoked: a heartbeat tells which.
        await member.heartbeatNow();
        pending = pending.filter((o) => this.committed.get(tpKey(o.topic, o.partition)) !== o.offset);
        const still = (o: TopicPartitionOffset) => (scope === 'owned' ? member.owns(o.topic, o.partition) : member.holds(o.topic, o.partition));
        if (!pending.every(still)) throw error;
      }
    }
  }

  private serialized(commit: () => Promise<void>): Promise<void> {
    const run = this.commits.then(commit);
    this.commits = run.catch(() => {});
    return run;
  }
}
