/**
 * What the producer must know about a topic before it can place records: the partition
 * count (for murmur2 and the sticky partitioner) and max.message.bytes (so no batch is ever
 * refused for its size). Described once and cached, like Kafka's producer metadata; described
 * again after `maxAgeMs`, or at once after an UNKNOWN_TOPIC_OR_PARTITION.
 */
import { DEFAULT_MAX_MESSAGE_BYTES } from './options.ts';
import type { TopicDescription } from './types.ts';

export interface TopicMetadata {
  partitions: number;
  maxMessageBytes: number;
  fetchedAtMs: number;
}

export class MetadataCache {
  private readonly entries = new Map<string, TopicMetadata>();
  private readonly loading = new Map<string, Promise<TopicMetadata>>();

  constructor(
    private readonly describe: (topic: string) => Promise<TopicDescription>,
    private readonly maxAgeMs: number,
  ) {}

  /** The cached metadata if it is fresh enough; synchronous, for the send path. */
  fresh(topic: string, nowMs = Date.now()): TopicMetadata | undefined {
    const entry = this.entries.get(topic);
    return entry !== undefined && nowMs - entry.fetchedAtMs < this.maxAgeMs ? entry : undefined;
  }

  /** Describes the topic (one request however many callers ask at once) and caches the answer. */
  load(topic: string): Promise<TopicMetadata> {
    let pending = this.loading.get(topic);
    if (pending === undefined) {
      pending = this.describe(topic)
        .then((description) => {
          const configured = Number(description.configs['max.message.bytes']);
          const entry = {
            partitions: description.partitions.length,
            maxMessageBytes: Number.isSafeInteger(configured) && configured > 0 ? configured : DEFAULT_MAX_MESSAGE_BYTES,
            fetchedAtMs: Date.now(),
          };
          this.entries.set(topic, entry);
          return entry;
        })
        .finally(() => this.loading.delete(topic));
      this.loading.set(topic, pending);
    }
    return pending;
  }

  invalidate(topic: string): void {
    this.entries.delete(topic);
  }
}
