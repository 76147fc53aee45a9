/**
 * The idempotent producer's identity (Kafka's enable.idempotence, on by default since Kafka
 * 3.0): a producer id from `POST /v1/producers`, epoch 0, and a sequence per partition.
 * Sequences are given to a batch when it is encoded, and a retry resends the same bytes, so
 * the server answers a retry of a batch it already committed with the original offsets.
 */
import { pathOf, type Transport } from './http.ts';
import type { ResolvedRetryOptions } from './options.ts';

export interface BatchIdentity {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

export class ProducerIdentity {
  private id: Promise<{ producerId: number; producerEpoch: number }> | undefined;
  private readonly nextSequence = new Map<string, number>();

  constructor(
    private readonly transport: Transport,
    private readonly retry: ResolvedRetryOptions,
  ) {}

  /** The identity for `count` records on `topic`/`partition`, taking their sequences. */
  async claim(topic: string, partition: number, count: number): Promise<BatchIdentity> {
    this.id ??= this.transport.json<{ producerId: number; producerEpoch: number }>({ method: 'POST', path: pathOf('v1', 'producers') }, this.retry).catch((error: unknown) => {
      this.id = undefined;
      throw error;
    });
    const { producerId, producerEpoch } = await this.id;
    const key = `${partition}\u0000${topic}`;
    const baseSequence = this.nextSequence.get(key) ?? 0;
    // Kafka wraps sequences at 2^31 - 1 back to 0.
    this.nextSequence.set(key, (baseSequence + count) % 2 ** 31);
    return { producerId: BigInt(producerId), producerEpoch, baseSequence };
  }

  /**
   * After a request failed for good, its sequences are burned: start over as a new producer
   * (Kafka bumps the epoch for the same reason), so later batches are not out of order.
   */
  reset(): void {
    this.id = undefined;
    this.nextSequence.clear();
  }
}
