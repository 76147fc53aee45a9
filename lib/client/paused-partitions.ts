/**
 * Which partitions a consumer has paused, kept by name so that a pause given before `run`
 * (or across runs) applies to the partitions it names: a whole topic, or some partitions.
 */
export interface TopicPartitions {
  topic: string;
  /** @default - every partition of the topic */
  partitions?: readonly number[];
}

const key = (topic: string, partition: number) => `${partition}\u0000${topic}`;

export class PausedPartitions {
  private readonly topics = new Set<string>();
  private readonly partitions = new Set<string>();

  has(topic: string, partition: number): boolean {
    return this.topics.has(topic) || this.partitions.has(key(topic, partition));
  }

  pause(entries: readonly TopicPartitions[]): void {
    for (const { topic, partitions } of entries) {
      if (partitions === undefined) this.topics.add(topic);
      else for (const partition of partitions) this.partitions.add(key(topic, partition));
    }
  }

  /** `assigned` lists a topic's assigned partitions: resuming some of a paused topic keeps the others paused. */
  resume(entries: readonly TopicPartitions[], assigned: (topic: string) => readonly number[]): void {
    for (const { topic, partitions } of entries) {
      if (partitions === undefined) {
        this.topics.delete(topic);
        for (const k of this.partitions) if (k.endsWith(`\u0000${topic}`)) this.partitions.delete(k);
        continue;
      }
      if (this.topics.delete(topic)) for (const p of assigned(topic)) this.partitions.add(key(topic, p));
      for (const partition of partitions) this.partitions.delete(key(topic, partition));
    }
  }
}
