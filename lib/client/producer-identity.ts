/**
 * The idempotent producer's identity (Kafka's enable.idempotence, on by default since Kafka
 * 3.0): a producer id from `POST /v1/producers`, an epoch, and a sequence per partition.
 * Sequences are given to a batch when it is encoded, and a retry resends the same bytes, so
 * the server answers a retry of a batch it already committed with the original offsets.
 *
 * Kafka's rule for a request that failed for good (KIP-360): its outcome is unknown — it may
 * land later, from a retry still in the network — so its sequences are burned. The producer
 * waits until no request of the old epoch is in flight (the sender holds new requests while
 * `bumpDue`), then bumps the epoch with InitProducerId(current id, epoch) and restarts every
 * partition's sequences at 0. A late copy of a failed batch then meets the new epoch on its
 * partition and is fenced (INVALID_PRODUCER_EPOCH) instead of landing after later records.
 */
import { pathOf, type Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';

export interface BatchIdentity {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

interface Id {
  producerId: number;
  producerEpoch: number;
}

export class ProducerIdentity {
  private current: Id | undefined;
  private pending: Promise<void> | undefined;
  private stale = false;
  private readonly nextSequence = new Map<string, number>();

  constructor(
    private readonly transport: Transport,
    private readonly retry: ResolvedRetryOptions,
  ) {}

  /** True after a failed request: no new request may start until the in-flight ones are done and `ready()` has bumped the epoch. */
  get bumpDue(): boolean {
    return this.stale;
  }

  /** The id and epoch batches are stamped with now, once known. */
  get id(): Readonly<Id> | undefined {
    return this.current;
  }

  /** Resolves once an identity is in hand: a new producer id, or the epoch bumped after a failure. */
  ready(signal?: AbortSignal): Promise<void> {
    if (this.current !== undefined && !this.stale) return Promise.resolve();
    this.pending ??= this.init(signal).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /**
   * The identity for `count` records on `topic`/`partition`, taking their sequences.
   * Synchronous after `ready()`, so every batch of one request carries the same id and epoch.
   */
  claim(topic: string, partition: number, count: number): BatchIdentity {
    const current = this.current;
    if (current === undefined || this.stale) throw new Error('ProducerIdentity.claim before ready()');
    const key = `${partition}\u0000${topic}`;
    const baseSequence = this.nextSequence.get(key) ?? 0;
    // Kafka wraps sequences at 2^31 - 1 back to 0.
    this.nextSequence.set(key, (baseSequence + count) % 2 ** 31);
    return { producerId: BigInt(current.producerId), producerEpoch: current.producerEpoch, baseSequence };
  }

  /**
   * The server has no state for `used` (UNKNOWN_PRODUCER_ID: the producer was idle past the
   * state's expiry, nothing of the request was appended). Resolves with a new identity to
   * resend under: the epoch bumped (KIP-360, as Kafka's producer does), or with `fresh` a new
   * producer id; when another request already moved the identity past `used`, that one.
   */
  async renew(used: { producerId: bigint; producerEpoch: number }, fresh: boolean, signal?: AbortSignal): Promise<void> {
    const current = this.current;
    if (current !== undefined && BigInt(current.producerId) === used.producerId && current.producerEpoch === used.producerEpoch) {
      if (fresh) this.current = undefined;
      else this.stale = true;
    }
    await this.ready(signal);
  }

  /** A request whose batches took sequences failed for good: the epoch must be bumped before the next. */
  failed(): void {
    if (this.current !== undefined) this.stale = true;
  }

  private async init(signal: AbortSignal | undefined): Promise<void> {
    const bump = this.current === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(this.current) };
    const next = await this.transport.json<Id>({ method: 'POST', path: pathOf('v1', 'producers'), ...bump, ...(signal === undefined ? {} : { signal }) }, this.retry);
    this.current = { producerId: next.producerId, producerEpoch: next.producerEpoch };
    this.nextSequence.clear();
    this.stale = false;
  }
}
